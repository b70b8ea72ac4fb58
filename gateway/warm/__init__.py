"""The warm MCP path: ``tools/call`` and ``tools/list`` without the ORM or the sync thread.

``pool`` (an async PostgreSQL pool per event loop), ``state`` (one fresh statement per request
for every piece of authorization state, plus an in-process tool index keyed by row versions) and
``audit`` (audit rows written by group commit, committed before the result is returned).
Enabled by ``settings.VMCP_MCP_WARM_PATH``; everything else (REST, dashboard, legacy streams,
user-credential connections' account reads) keeps the ORM path.
"""
