"""Receivables collection: the rooms of the house, from the way in to the way out.

sources (accounting, config files) -> rules and law_fr (pure decisions) -> state (the record) ->
delivery (SendGrid, print queue) and documents (letters, dossier, reports). Nothing in this package
imports Prefect: tasks/ and flows/ wrap it.
"""
