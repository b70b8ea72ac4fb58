"""Tool execution, shared by the REST ``execute_tool`` endpoint and MCP ``tools/call``.

See ``core`` for the order of checks, what raises and what is returned as an ``isError`` result.
"""

from .auditing import tool_denial_record
from .core import ExecutionResult, tool_execute

__all__ = ["ExecutionResult", "tool_denial_record", "tool_execute"]
