"""Users for the API and web: demo accounts and user management (the logic is in :mod:`carelens.services.auth`)."""

from carelens.services.auth import DemoAccount, NewUser, create_demo_users, create_user

__all__ = ["DemoAccount", "NewUser", "create_demo_users", "create_user"]
