"""The fake GitHub REST API (``/github/...``); repositories are shared, as on github.com."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from .base import Handler, _Call, _github_error, _hex_id, _now_iso, pick_keys

if TYPE_CHECKING:
    from .server import FakeProviders


@dataclass
class _GitHub:
    repos: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    issues: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[tuple[str, str, int], list[dict[str, Any]]] = field(default_factory=dict)

    def repo(self, owner: str, name: str) -> dict[str, Any]:
        key = (owner, name)
        if key not in self.repos:
            self.repos[key] = {
                "id": 1000 + len(self.repos),
                "node_id": f"R_{_hex_id(owner, name)}",
                "name": name,
                "full_name": f"{owner}/{name}",
                "owner": _github_user(owner),
                "private": False,
                "html_url": f"https://github.com/{owner}/{name}",
                "description": f"{name} by {owner}",
                "fork": False,
                "default_branch": "main",
                "visibility": "public",
                "open_issues_count": 0,
                "stargazers_count": 0,
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
            }
            self.issues[key] = []
        return self.repos[key]


def _github_user(login: str) -> dict[str, Any]:
    return {
        "login": login,
        "id": int(hashlib.sha1(login.encode()).hexdigest()[:6], 16),
        "type": "User",
        "html_url": f"https://github.com/{login}",
        "site_admin": False,
    }


def github_user(fake: FakeProviders, call: _Call) -> Response:
    return JSONResponse(
        {
            **_github_user(call.user),
            "name": call.user.title(),
            "email": f"{call.user}@example.com",
            "company": None,
            "public_repos": len([k for k in fake._github.repos if k[0] == call.user]),
        }
    )


def github_user_repos(fake: FakeProviders, call: _Call) -> Response:
    fake._github.repo(call.user, "hello-world")
    return JSONResponse([r for (owner, _), r in fake._github.repos.items() if owner == call.user])


def github_repo(fake: FakeProviders, call: _Call) -> Response:
    params = call.request.path_params
    return JSONResponse(fake._github.repo(params["owner"], params["repo"]))


def github_issues(fake: FakeProviders, call: _Call) -> Response:
    params = call.request.path_params
    repo = fake._github.repo(params["owner"], params["repo"])
    issues = fake._github.issues[(params["owner"], params["repo"])]
    if call.request.method == "GET":
        state = call.query.get("state", "open")
        listed = [i for i in reversed(issues) if state == "all" or i["state"] == state]
        return JSONResponse(listed)
    body = call.json if isinstance(call.json, dict) else {}
    if not body.get("title"):
        return JSONResponse(
            {
                "message": "Validation Failed",
                "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}],
                "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
                "status": "422",
            },
            status_code=422,
        )
    number = len(issues) + 1
    issue = {
        "id": 5000 + number,
        "number": number,
        "title": body["title"],
        "body": body.get("body"),
        "state": "open",
        "user": _github_user(call.user),
        "labels": [{"name": name} for name in body.get("labels", [])],
        "assignees": [_github_user(login) for login in body.get("assignees", [])],
        "comments": 0,
        "html_url": f"{repo['html_url']}/issues/{number}",
        "created_at": _now_iso(),
        "updated_at": _now_iso(),
    }
    issues.append(issue)
    repo["open_issues_count"] += 1
    return JSONResponse(issue, status_code=201)


def github_issue(fake: FakeProviders, call: _Call) -> Response:
    params = call.request.path_params
    fake._github.repo(params["owner"], params["repo"])
    issues = fake._github.issues[(params["owner"], params["repo"])]
    issue = next((i for i in issues if i["number"] == params["number"]), None)
    if issue is None:
        return _github_error(404, "Not Found")
    if call.request.method == "PATCH":
        body = call.json if isinstance(call.json, dict) else {}
        issue.update(pick_keys(body, ("title", "body", "state", "state_reason")))
        if "labels" in body:
            issue["labels"] = [{"name": name} for name in body["labels"]]
        issue["updated_at"] = _now_iso()
    return JSONResponse(issue)


def github_comments(fake: FakeProviders, call: _Call) -> Response:
    params = call.request.path_params
    fake._github.repo(params["owner"], params["repo"])
    key = (params["owner"], params["repo"], params["number"])
    comments = fake._github.comments.setdefault(key, [])
    if call.request.method == "GET":
        return JSONResponse(comments)
    body = call.json if isinstance(call.json, dict) else {}
    comment = {
        "id": 9000 + len(comments),
        "body": body.get("body", ""),
        "user": _github_user(call.user),
        "created_at": _now_iso(),
    }
    comments.append(comment)
    return JSONResponse(comment, status_code=201)


_REPO = "/repos/{owner}/{repo}"

ROUTES: list[tuple[str, str, Handler, list[str]]] = [
    ("github", "/user", github_user, ["GET"]),
    ("github", "/user/repos", github_user_repos, ["GET"]),
    ("github", _REPO, github_repo, ["GET"]),
    ("github", f"{_REPO}/issues", github_issues, ["GET", "POST"]),
    ("github", f"{_REPO}/issues/{{number:int}}", github_issue, ["GET", "PATCH"]),
    ("github", f"{_REPO}/issues/{{number:int}}/comments", github_comments, ["GET", "POST"]),
]
