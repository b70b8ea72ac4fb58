"""GitHub, through the GitHub REST API (https://docs.github.com/en/rest), version 2022-11-28.

Connections authenticate with an OAuth app (or GitHub App user-to-server) token. A personal
access token (classic or fine-grained) works as an API-key connection too: GitHub accepts it
in the same ``Authorization: Bearer <token>`` header, so no other code is needed.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from connectors._schema import (
    boolean,
    enum,
    integer,
    obj,
    pick,
    read_only,
    rest,
    string,
    strings,
    writes,
)
from connectors.base import Connector, OAuthSpec, Tool

REPO = "/repos/{owner}/{repo}"

_OWNER = string("Account that owns the repository (user or organization), e.g. 'octocat'.")
_REPO = string("Repository name without the owner, e.g. 'hello-world'.")
_ISSUE_NUMBER = integer("The issue (or pull request) number.", minimum=1)
_PULL_NUMBER = integer("The pull request number.", minimum=1)
_PER_PAGE = integer("Results per page (max 100).", minimum=1, maximum=100)
_PAGE = integer("Page number, from 1.", minimum=1)
_DIRECTION = enum(["asc", "desc"], "Sort direction.")
_SINCE = string("Only items updated at or after this ISO 8601 time.", format="date-time")
_REPO_ARGS = {"owner": _OWNER, "repo": _REPO}
_LABELS = strings('Label names, e.g. ["bug"].')
_ASSIGNEES = strings("Logins of users to assign.")
_SEARCH_PAGING = {"per_page": _PER_PAGE, "page": _PAGE}


def _decoded_contents(body: Any) -> Any:
    # Agents cannot decode base64 reliably; hand them the text alongside the raw response.
    if isinstance(body, dict) and body.get("encoding") == "base64" and "content" in body:
        try:
            text = base64.b64decode(body["content"]).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return body
        return {**body, "decoded_content": text}
    return body


def _file_body(args: dict[str, Any]) -> dict[str, Any]:
    body = pick(args, ("message", "sha", "branch"))
    body["content"] = base64.b64encode(args["content"].encode("utf-8")).decode("ascii")
    return body


_ISSUE_FIELDS = {
    "title": string("Issue title."),
    "body": string("Issue body in GitHub Markdown."),
    "assignees": _ASSIGNEES,
    "labels": _LABELS,
    "milestone": integer("Milestone number.", minimum=1),
}

TOOLS = (
    Tool(
        name="github_get_authenticated_user",
        description="Get the connected GitHub user's profile (login, name, email, company).",
        input_schema=obj({}),
        request=rest("GET", "/user"),
        annotations=read_only("Get my GitHub profile"),
    ),
    Tool(
        name="github_list_user_repos",
        description="List repositories the connected user can access (own, collaborator, org).",
        input_schema=obj(
            {
                "visibility": enum(["all", "public", "private"], "Filter by visibility."),
                "affiliation": string(
                    "Comma-separated mix of owner, collaborator, organization_member."
                ),
                "sort": enum(["created", "updated", "pushed", "full_name"], "Sort field."),
                "direction": _DIRECTION,
                "per_page": _PER_PAGE,
                "page": _PAGE,
            }
        ),
        request=rest(
            "GET",
            "/user/repos",
            query=("visibility", "affiliation", "sort", "direction", "per_page", "page"),
        ),
        annotations=read_only("List my repositories"),
    ),
    Tool(
        name="github_get_repo",
        description="Get a repository: description, default branch, visibility, counts, URLs.",
        input_schema=obj(_REPO_ARGS, ["owner", "repo"]),
        request=rest("GET", REPO),
        annotations=read_only("Get repository"),
    ),
    Tool(
        name="github_list_issues",
        description=(
            "List issues of a repository (GitHub includes pull requests; they carry a "
            "'pull_request' key). Default: open issues, newest first."
        ),
        input_schema=obj(
            {
                **_REPO_ARGS,
                "state": enum(["open", "closed", "all"], "Issue state. Default open."),
                "labels": string("Comma-separated label names the issues must all have."),
                "assignee": string("Login, 'none' or '*'."),
                "creator": string("Login of the issue author."),
                "mentioned": string("Login of a user mentioned in the issue."),
                "sort": enum(["created", "updated", "comments"], "Sort field."),
                "direction": _DIRECTION,
                "since": _SINCE,
                "per_page": _PER_PAGE,
                "page": _PAGE,
            },
            ["owner", "repo"],
        ),
        request=rest(
            "GET",
            f"{REPO}/issues",
            query=(
                "state",
                "labels",
                "assignee",
                "creator",
                "mentioned",
                "sort",
                "direction",
                "since",
                "per_page",
                "page",
            ),
        ),
        annotations=read_only("List issues"),
    ),
    Tool(
        name="github_get_issue",
        description="Get one issue with its body, labels, assignees and state.",
        input_schema=obj(
            {**_REPO_ARGS, "issue_number": _ISSUE_NUMBER}, ["owner", "repo", "issue_number"]
        ),
        request=rest("GET", f"{REPO}/issues/{{issue_number}}"),
        annotations=read_only("Get issue"),
    ),
    Tool(
        name="github_create_issue",
        description="Open a new issue in a repository.",
        input_schema=obj({**_REPO_ARGS, **_ISSUE_FIELDS}, ["owner", "repo", "title"]),
        request=rest("POST", f"{REPO}/issues", body=tuple(_ISSUE_FIELDS)),
        annotations=writes("Create issue"),
    ),
    Tool(
        name="github_update_issue",
        description=(
            "Edit an issue: title, body, labels, assignees, or close/reopen it with state. "
            "labels and assignees replace the existing lists."
        ),
        input_schema=obj(
            {
                **_REPO_ARGS,
                "issue_number": _ISSUE_NUMBER,
                **_ISSUE_FIELDS,
                "state": enum(["open", "closed"], "Open or close the issue."),
                "state_reason": enum(
                    ["completed", "not_planned", "reopened"], "Why the state changed."
                ),
            },
            ["owner", "repo", "issue_number"],
        ),
        request=rest(
            "PATCH",
            f"{REPO}/issues/{{issue_number}}",
            body=(*_ISSUE_FIELDS, "state", "state_reason"),
        ),
        annotations=writes("Update issue", idempotent=True),
    ),
    Tool(
        name="github_add_labels",
        description="Add labels to an issue or pull request, keeping its existing labels.",
        input_schema=obj(
            {
                **_REPO_ARGS,
                "issue_number": _ISSUE_NUMBER,
                "labels": strings("Label names.", min_items=1),
            },
            ["owner", "repo", "issue_number", "labels"],
        ),
        request=rest("POST", f"{REPO}/issues/{{issue_number}}/labels", body=("labels",)),
        annotations=writes("Add labels", idempotent=True),
    ),
    Tool(
        name="github_list_issue_comments",
        description="List the comments of an issue or pull request conversation, oldest first.",
        input_schema=obj(
            {
                **_REPO_ARGS,
                "issue_number": _ISSUE_NUMBER,
                "since": _SINCE,
                "per_page": _PER_PAGE,
                "page": _PAGE,
            },
            ["owner", "repo", "issue_number"],
        ),
        request=rest(
            "GET",
            f"{REPO}/issues/{{issue_number}}/comments",
            query=("since", "per_page", "page"),
        ),
        annotations=read_only("List issue comments"),
    ),
    Tool(
        name="github_create_issue_comment",
        description="Comment on an issue or on a pull request's conversation.",
        input_schema=obj(
            {**_REPO_ARGS, "issue_number": _ISSUE_NUMBER, "body": string("Comment in Markdown.")},
            ["owner", "repo", "issue_number", "body"],
        ),
        request=rest("POST", f"{REPO}/issues/{{issue_number}}/comments", body=("body",)),
        annotations=writes("Comment on issue"),
    ),
    Tool(
        name="github_list_pull_requests",
        description="List pull requests of a repository. Default: open ones, newest first.",
        input_schema=obj(
            {
                **_REPO_ARGS,
                "state": enum(["open", "closed", "all"], "Pull request state. Default open."),
                "head": string("Filter by head as 'user:branch'."),
                "base": string("Filter by base branch name."),
                "sort": enum(["created", "updated", "popularity", "long-running"], "Sort field."),
                "direction": _DIRECTION,
                "per_page": _PER_PAGE,
                "page": _PAGE,
            },
            ["owner", "repo"],
        ),
        request=rest(
            "GET",
            f"{REPO}/pulls",
            query=("state", "head", "base", "sort", "direction", "per_page", "page"),
        ),
        annotations=read_only("List pull requests"),
    ),
    Tool(
        name="github_get_pull_request",
        description="Get one pull request: branches, state, mergeability, diff stats.",
        input_schema=obj(
            {**_REPO_ARGS, "pull_number": _PULL_NUMBER}, ["owner", "repo", "pull_number"]
        ),
        request=rest("GET", f"{REPO}/pulls/{{pull_number}}"),
        annotations=read_only("Get pull request"),
    ),
    Tool(
        name="github_create_pull_request",
        description="Open a pull request to merge the head branch into the base branch.",
        input_schema=obj(
            {
                **_REPO_ARGS,
                "title": string("Pull request title."),
                "head": string("Branch with the changes; 'user:branch' for a fork."),
                "base": string("Branch to merge into, e.g. 'main'."),
                "body": string("Description in Markdown."),
                "draft": boolean("Open as a draft pull request."),
                "maintainer_can_modify": boolean("Let maintainers push to the head branch."),
            },
            ["owner", "repo", "title", "head", "base"],
        ),
        request=rest(
            "POST",
            f"{REPO}/pulls",
            body=("title", "head", "base", "body", "draft", "maintainer_can_modify"),
        ),
        annotations=writes("Create pull request"),
    ),
    Tool(
        name="github_merge_pull_request",
        description=(
            "Merge a pull request. Pass sha (the head commit you reviewed) so the merge fails "
            "if someone pushed in the meantime."
        ),
        input_schema=obj(
            {
                **_REPO_ARGS,
                "pull_number": _PULL_NUMBER,
                "commit_title": string("Title of the merge commit."),
                "commit_message": string("Extra detail for the merge commit message."),
                "sha": string("Expected SHA of the pull request's head."),
                "merge_method": enum(["merge", "squash", "rebase"], "Default merge."),
            },
            ["owner", "repo", "pull_number"],
        ),
        request=rest(
            "PUT",
            f"{REPO}/pulls/{{pull_number}}/merge",
            body=("commit_title", "commit_message", "sha", "merge_method"),
        ),
        annotations=writes("Merge pull request", destructive=True),
    ),
    Tool(
        name="github_list_pull_request_files",
        description="List the files a pull request changes, with additions, deletions and patch.",
        input_schema=obj(
            {**_REPO_ARGS, "pull_number": _PULL_NUMBER, "per_page": _PER_PAGE, "page": _PAGE},
            ["owner", "repo", "pull_number"],
        ),
        request=rest("GET", f"{REPO}/pulls/{{pull_number}}/files", query=("per_page", "page")),
        annotations=read_only("List pull request files"),
    ),
    Tool(
        name="github_create_pull_request_review",
        description="Review a pull request: approve it, request changes, or comment.",
        input_schema=obj(
            {
                **_REPO_ARGS,
                "pull_number": _PULL_NUMBER,
                "event": enum(["APPROVE", "REQUEST_CHANGES", "COMMENT"], "The review verdict."),
                "body": string("Review text; required for REQUEST_CHANGES and COMMENT."),
                "commit_id": string("SHA of the commit being reviewed. Default: latest."),
            },
            ["owner", "repo", "pull_number", "event"],
        ),
        request=rest(
            "POST", f"{REPO}/pulls/{{pull_number}}/reviews", body=("event", "body", "commit_id")
        ),
        annotations=writes("Review pull request"),
    ),
    Tool(
        name="github_get_file_contents",
        description=(
            "Read a file (decoded text in 'decoded_content') or list a directory of a "
            "repository at a branch, tag or commit."
        ),
        input_schema=obj(
            {
                **_REPO_ARGS,
                "path": string("Path in the repository, e.g. 'src/app/main.py'; '' for the root."),
                "ref": string("Branch, tag or commit SHA. Default: the default branch."),
            },
            ["owner", "repo", "path"],
        ),
        request=rest("GET", f"{REPO}/contents/{{path}}", query=("ref",), slash_params=("path",)),
        response=_decoded_contents,
        annotations=read_only("Get file contents"),
    ),
    Tool(
        name="github_create_or_update_file",
        description=(
            "Commit a file to a branch: creates it, or replaces it when sha (the current blob "
            "SHA from github_get_file_contents) is given."
        ),
        input_schema=obj(
            {
                **_REPO_ARGS,
                "path": string("Path of the file in the repository."),
                "message": string("Commit message."),
                "content": string("New file content as text (encoded for you)."),
                "sha": string("Blob SHA of the file being replaced; required to update."),
                "branch": string("Branch to commit to. Default: the default branch."),
            },
            ["owner", "repo", "path", "message", "content"],
        ),
        request=rest(
            "PUT", f"{REPO}/contents/{{path}}", build_body=_file_body, slash_params=("path",)
        ),
        annotations=writes("Commit file", destructive=True),
    ),
    Tool(
        name="github_list_commits",
        description="List commits of a branch, newest first, optionally for one path or author.",
        input_schema=obj(
            {
                **_REPO_ARGS,
                "sha": string("Branch name or commit SHA to start from. Default: default branch."),
                "path": string("Only commits touching this path."),
                "author": string("GitHub login or email of the author."),
                "since": _SINCE,
                "until": string("Only commits before this ISO 8601 time.", format="date-time"),
                "per_page": _PER_PAGE,
                "page": _PAGE,
            },
            ["owner", "repo"],
        ),
        request=rest(
            "GET",
            f"{REPO}/commits",
            query=("sha", "path", "author", "since", "until", "per_page", "page"),
        ),
        annotations=read_only("List commits"),
    ),
    Tool(
        name="github_get_commit",
        description="Get one commit with its message, author, stats and changed files.",
        input_schema=obj(
            {**_REPO_ARGS, "ref": string("Commit SHA, branch or tag name.")},
            ["owner", "repo", "ref"],
        ),
        request=rest("GET", f"{REPO}/commits/{{ref}}"),
        annotations=read_only("Get commit"),
    ),
    Tool(
        name="github_list_branches",
        description="List the branches of a repository.",
        input_schema=obj(
            {
                **_REPO_ARGS,
                "protected": boolean("Only protected (true) or unprotected (false) branches."),
                "per_page": _PER_PAGE,
                "page": _PAGE,
            },
            ["owner", "repo"],
        ),
        request=rest("GET", f"{REPO}/branches", query=("protected", "per_page", "page")),
        annotations=read_only("List branches"),
    ),
    Tool(
        name="github_search_issues",
        description=(
            "Search issues and pull requests across GitHub with search qualifiers, e.g. "
            "'repo:octocat/hello-world is:issue is:open label:bug' or 'is:pr author:@me'."
        ),
        input_schema=obj(
            {
                "q": string("Search query with qualifiers."),
                "sort": enum(
                    ["comments", "reactions", "created", "updated", "interactions"],
                    "Sort field. Default: best match.",
                ),
                "order": _DIRECTION,
                **_SEARCH_PAGING,
            },
            ["q"],
        ),
        request=rest("GET", "/search/issues", query=("q", "sort", "order", "per_page", "page")),
        annotations=read_only("Search issues"),
    ),
    Tool(
        name="github_search_code",
        description=(
            "Search code in default branches, e.g. 'def handler repo:octocat/hello-world "
            "language:python'."
        ),
        input_schema=obj({"q": string("Search query with qualifiers."), **_SEARCH_PAGING}, ["q"]),
        request=rest("GET", "/search/code", query=("q", "per_page", "page")),
        annotations=read_only("Search code"),
    ),
    Tool(
        name="github_search_repositories",
        description="Search repositories, e.g. 'topic:mcp language:python stars:>100'.",
        input_schema=obj(
            {
                "q": string("Search query with qualifiers."),
                "sort": enum(["stars", "forks", "help-wanted-issues", "updated"], "Sort field."),
                "order": _DIRECTION,
                **_SEARCH_PAGING,
            },
            ["q"],
        ),
        request=rest(
            "GET", "/search/repositories", query=("q", "sort", "order", "per_page", "page")
        ),
        annotations=read_only("Search repositories"),
    ),
    Tool(
        name="github_list_releases",
        description="List the releases of a repository, newest first.",
        input_schema=obj({**_REPO_ARGS, "per_page": _PER_PAGE, "page": _PAGE}, ["owner", "repo"]),
        request=rest("GET", f"{REPO}/releases", query=("per_page", "page")),
        annotations=read_only("List releases"),
    ),
)

CONNECTOR = Connector(
    slug="github",
    name="GitHub",
    description="Work with the user's GitHub repositories, issues, pull requests and code.",
    auth_kind="oauth2",
    api_base_url="https://api.github.com",
    tools=TOOLS,
    oauth=OAuthSpec(
        authorize_url="https://github.com/login/oauth/authorize",
        token_url="https://github.com/login/oauth/access_token",
        revoke_url="https://api.github.com/applications/{client_id}/token",
        default_scopes=("repo", "read:user"),
        token_request_headers={"Accept": "application/json"},
        revoke_style="github",
    ),
    default_headers={
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    },
)
