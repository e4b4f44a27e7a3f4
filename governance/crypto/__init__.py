"""Field encryption: keyring (master keys, data keys) and encrypted fields."""
