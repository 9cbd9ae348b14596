"""The risk team's browser console (server-rendered; see docs/console.md)."""
