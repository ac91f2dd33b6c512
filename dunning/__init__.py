"""Receivables collection domain: aging, segmentation, planning, rendering, sending, state.

Nothing in this package imports Prefect: tasks/ and flows/ wrap it.
"""
