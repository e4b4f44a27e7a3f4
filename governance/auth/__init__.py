"""Authentication glue for django-allauth (G.AUTH)."""
