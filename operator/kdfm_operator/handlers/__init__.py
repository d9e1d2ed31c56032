"""Thin kopf handlers per kind: read, plan, apply, report."""
