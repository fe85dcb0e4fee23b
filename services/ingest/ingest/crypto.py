"""Channel access tokens at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key from settings."""

from cryptography.fernet import Fernet, InvalidToken


class TokenCipher:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, encrypted: str) -> str:
        try:
            return self._fernet.decrypt(encrypted.encode()).decode()
        except InvalidToken as exc:
            # The key changed without re-encrypting: say so, never show the value.
            raise ValueError("channel token cannot be decrypted with CHANNEL_TOKEN_KEY") from exc
