"""Helpers the test tiers share: servers on free ports, stack settings, the dashboard's fake facade.

Imported by module path (`tests.support...`), never through another tier's conftest.
"""
