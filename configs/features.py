"""What a virtual server exposes of its upstream connections' prompts and resources.

Default-deny, as for tools (``configs.tools``): a prompt (by name) or a resource (by URI, or by
URI template for a family of resources) appears only if its mapping lists it, or the mapping
says ``"*"`` (every prompt, or every resource and template, the connection's last sync
discovered, including ones a later sync adds). Anything else does not exist for that endpoint.
A clash across mappings (two connections with a prompt of one name, or one URI) goes to the
first mapping, as for tools.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .models import Connection, McpConfig, ToolMapping
from .tools import config_mappings
from .uri_templates import MAX_URI, template_matches

ALL = ToolMapping.ALL_TOOLS


@dataclass(frozen=True)
class ExposedPrompt:
    name: str  # the name the agent sees (the mapping's override, else the upstream's)
    definition: dict[str, Any]  # the MCP Prompt object, overrides applied
    connection: Connection
    prompt_name: str  # the prompt's own name on the upstream


@dataclass(frozen=True)
class ExposedResource:
    uri: str  # the URI, or the URI template for ``template=True``
    definition: dict[str, Any]  # the MCP Resource or ResourceTemplate object
    connection: Connection
    template: bool


@dataclass(frozen=True)
class Exposure:
    prompts: list[ExposedPrompt]
    resources: list[ExposedResource]  # direct resources
    templates: list[ExposedResource]

    def capabilities(self) -> dict[str, Any]:
        """The ``prompts``/``resources``/``completions`` capabilities these justify."""
        caps: dict[str, Any] = {}
        if self.prompts:
            caps["prompts"] = {}
        if self.resources or self.templates:
            subscribe = any(
                _upstream_caps(r.connection).get("resources", {}).get("subscribe")
                for r in self.resources + self.templates
            )
            caps["resources"] = {"subscribe": True} if subscribe else {}
        completable = [p.connection for p in self.prompts] + [t.connection for t in self.templates]
        if any("completions" in _upstream_caps(c) for c in completable):
            caps["completions"] = {}
        return caps


def _upstream_caps(connection: Connection) -> dict[str, Any]:
    caps = connection.upstream_capabilities
    return caps if isinstance(caps, dict) else {}


def listed(items: Any) -> list[dict[str, Any]]:
    """The objects of a JSON list a sync stored (anything else in it is skipped)."""
    return [item for item in items or [] if isinstance(item, dict)]


def mapping_prompts(mapping: ToolMapping) -> list[ExposedPrompt]:
    """The mapping's prompts, each renamed / re-described by its override (as for tools)."""
    available = {p["name"]: p for p in listed(mapping.connection.prompts) if "name" in p}
    chosen = mapping.prompts or []
    names = list(available) if ALL in chosen else [n for n in chosen if n in available]
    exposed = []
    for name in names:
        override = (mapping.prompt_overrides or {}).get(name) or {}
        definition = copy.deepcopy(available[name])
        definition["name"] = override.get("name") or name
        if override.get("description"):
            definition["description"] = override["description"]
        exposed.append(ExposedPrompt(definition["name"], definition, mapping.connection, name))
    return exposed


def mapping_resources(mapping: ToolMapping) -> tuple[list[ExposedResource], list[ExposedResource]]:
    connection = mapping.connection
    direct = {r["uri"]: r for r in listed(connection.resources) if "uri" in r}
    templates = {
        t["uriTemplate"]: t for t in listed(connection.resource_templates) if "uriTemplate" in t
    }
    chosen = mapping.resources or []
    everything = ALL in chosen
    return (
        [
            ExposedResource(uri, d, connection, False)
            for uri, d in direct.items()
            if everything or uri in chosen
        ],
        [
            ExposedResource(uri, d, connection, True)
            for uri, d in templates.items()
            if everything or uri in chosen
        ],
    )


def exposure_of(mappings: list[ToolMapping]) -> Exposure:
    prompts: dict[str, ExposedPrompt] = {}
    resources: dict[str, ExposedResource] = {}
    templates: dict[str, ExposedResource] = {}
    for mapping in mappings:
        for prompt in mapping_prompts(mapping):
            prompts.setdefault(prompt.name, prompt)
        direct, families = mapping_resources(mapping)
        for resource in direct:
            resources.setdefault(resource.uri, resource)
        for template in families:
            templates.setdefault(template.uri, template)
    return Exposure(list(prompts.values()), list(resources.values()), list(templates.values()))


def config_exposure(config: McpConfig) -> Exposure:
    """Every prompt, resource and resource template the config exposes."""
    return exposure_of(config_mappings(config))


def config_exposure_fresh(config_id: Any) -> Exposure:
    """``config_exposure`` read from the database now, whatever the caller's config object
    holds (a long-lived watcher re-checks with it)."""
    # An unsaved stand-in has no prefetch, so config_mappings always queries.
    return exposure_of(config_mappings(McpConfig(pk=config_id)))


def exposure_prompt(exposure: Exposure, name: str) -> ExposedPrompt | None:
    return next((p for p in exposure.prompts if p.name == name), None)


def exposure_resource(exposure: Exposure, uri: str) -> ExposedResource | None:
    """The exposed resource ``uri`` is, or the first exposed template it matches, else None."""
    if not isinstance(uri, str) or len(uri) > MAX_URI:
        return None
    for resource in exposure.resources:
        if resource.uri == uri:
            return resource
    for template in exposure.templates:
        if template_matches(template.uri, uri):
            return template
    return None


def exposure_template(exposure: Exposure, uri_template: str) -> ExposedResource | None:
    """``completion/complete``'s ``ref/resource``: an exposed template (or resource) by its URI."""
    for item in exposure.templates + exposure.resources:
        if item.uri == uri_template:
            return item
    return None
