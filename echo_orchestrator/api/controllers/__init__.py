"""Thin HTTP controllers: parse, call one service, shape the response."""
