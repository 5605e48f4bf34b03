"""Conversation: follow-up questions read against the chat's thread, and named outlets."""
