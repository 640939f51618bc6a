"""Organizations: the scope of users, datasets and everything they see."""
