"""A small kustomize renderer for the suite, where ``kubectl kustomize`` is not installable.

It renders the subset of a ``kustomization.yaml`` that ``deploy/kubernetes`` uses and refuses
anything else, so a manifest can never silently rely on a feature it does not implement:

- ``resources``: files (multi-document YAML) and directories with their own kustomization;
- ``patches``: ``path`` only, a strategic-merge patch whose kind and name pick its one target
  (maps merge recursively; lists of named items merge by ``name``; other lists are replaced);
- ``namespace``: set on every namespaced object;
- ``labels``: ``pairs`` added to ``metadata.labels`` only (no ``includeSelectors`` /
  ``includeTemplates``, which would also rewrite selectors);
- ``images``: ``name`` with ``newName`` / ``newTag`` / ``digest``, on containers and init
  containers of pod templates.

Where ``kubectl`` is present the tests compare this output with ``kubectl kustomize``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "patches", "namespace", "labels", "images"}
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
}

Doc = dict[str, Any]


class UnsupportedKustomization(ValueError):
    """The kustomization uses something this renderer does not implement."""


def render(directory: Path) -> list[Doc]:
    """Every object the kustomization in ``directory`` produces, in kustomize's input order."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED_KEYS
    if unknown:
        raise UnsupportedKustomization(f"{directory}: unsupported keys {sorted(unknown)}")
    docs: list[Doc] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            docs += render(path)
        else:
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for patch in kustomization.get("patches", []):
        _apply_patch(directory, patch, docs)
    if namespace := kustomization.get("namespace"):
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED_KINDS:
                doc["metadata"]["namespace"] = namespace
    for entry in kustomization.get("labels", []):
        if set(entry) - {"pairs"}:
            raise UnsupportedKustomization(f"labels: only 'pairs' is supported, got {entry}")
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(entry["pairs"])
    for image in kustomization.get("images", []):
        if set(image) - {"name", "newName", "newTag", "digest"}:
            raise UnsupportedKustomization(f"images: unsupported entry {image}")
        for container in _containers(docs):
            _set_image(container, image)
    return docs


def _apply_patch(directory: Path, patch: dict[str, Any], docs: list[Doc]) -> None:
    if set(patch) != {"path"}:
        raise UnsupportedKustomization(f"patches: only 'path' is supported, got {patch}")
    body = yaml.safe_load((directory / patch["path"]).read_text())
    targets = [
        doc
        for doc in docs
        if doc["kind"] == body["kind"] and doc["metadata"]["name"] == body["metadata"]["name"]
    ]
    if len(targets) != 1:
        raise UnsupportedKustomization(
            f"patch {patch['path']} matches {len(targets)} objects, not exactly one"
        )
    _merge(targets[0], body)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            _merge(current, value)
        elif _named_list(value) and _named_list(current):
            by_name = {item["name"]: item for item in current}
            for item in value:
                if item["name"] in by_name:
                    _merge(by_name[item["name"]], item)
                else:
                    current.append(copy.deepcopy(item))
        else:
            target[key] = copy.deepcopy(value)


def _named_list(value: object) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(i, dict) and "name" in i for i in value)
    )


def _containers(docs: list[Doc]) -> list[dict[str, Any]]:
    found = []
    for doc in docs:
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        found += pod.get("containers", []) + pod.get("initContainers", [])
    return found


def _set_image(container: dict[str, Any], image: dict[str, str]) -> None:
    current = container["image"]
    name, _, digest = current.partition("@")
    # A tag follows the last ':' after the last '/' (a registry may have a port).
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = name[colon + 1 :] if colon > slash else ""
    name = name[:colon] if colon > slash else name
    if name != image["name"]:
        return
    name = image.get("newName", name)
    if "digest" in image:
        container["image"] = f"{name}@{image['digest']}"
        return
    tag = image.get("newTag", tag)
    container["image"] = f"{name}:{tag}" if tag else (f"{name}@{digest}" if digest else name)
