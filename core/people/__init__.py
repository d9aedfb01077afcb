"""Organisations, login accounts, roles and party members: who may act where."""
