"""The agents' read model of a timeline: a port, the one keyset rule, and the store's and index's adapters.

The agent API asks three questions: whom an id reads as now (the survivor and
the ids merged into it), a page of a timeline, and a head (the newest entries,
kept in memory for the next reads). The ClickHouse store, the serving index
and a kept head each answer them (``TimelineReader``); ``services.query.tiers``
decides once which one does.
"""
