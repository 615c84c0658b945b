"""The JSON API edge: parse, call one flow, serialise."""
