"""Auth service: businesses, users, roles and the tokens every service trusts."""
