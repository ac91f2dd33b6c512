"""Prefect tasks: thin, logged wrappers around the dunning domain package."""
