"""Encrypted model fields (G.ENC).

The database only ever sees :class:`Ciphertext` tokens. Plaintext lives on the
model instance; ``pre_save`` seals it with the data key of the row's subject,
and ``get_db_prep_value`` refuses anything that is not already sealed, so
``QuerySet.update()``, ``bulk_update()`` and lookups can't write or compare
plaintext at the database boundary. History tables copy the sealed token, so
they hold ciphertext too, and crypto-shredding reaches them.

Reading is lazy: the descriptor opens the token on first access using the
subject's key, which governed querysets fetch for a whole page in one query.
"""

from __future__ import annotations

import datetime
import json
import uuid
from binascii import a2b_base64
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core import checks, exceptions
from django.db import models

from governance.classification import Sensitivity

from . import store
from .keyring import CIPHERTEXT_PREFIX, ORGANISATION_SUBJECT, open_sealed, seal

_PREFIX_LEN = len(CIPHERTEXT_PREFIX)


class Ciphertext(str):
    """A sealed value exactly as stored in the database."""

    __slots__ = ()


class _Erased:
    """What an encrypted value reads as after its subject was crypto-shredded."""

    _instance: _Erased | None = None

    def __new__(cls) -> _Erased:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __str__(self) -> str:
        return "[erased]"

    __repr__ = __str__

    def __bool__(self) -> bool:
        return False


ERASED = _Erased()


class Masked:
    """What a viewer below the value's classification sees instead of it."""

    __slots__ = ("level",)

    def __init__(self, level: int) -> None:
        self.level = level

    def __str__(self) -> str:
        return f"•••••• ({Sensitivity.label_of(self.level)})"

    __repr__ = __str__

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Masked) and other.level == self.level

    def __hash__(self) -> int:
        return hash(("masked", self.level))


#: Per instance: attname -> decrypted value, and attname -> the token it was
#: decrypted from (a hit counts only while that token is still the stored
#: one). Two flat dicts rather than (token, value) pairs: they hold strings,
#: dates and decimals only, so the garbage collector does not track them, and
#: a list of many rows read back doesn't trigger full collections.
_PLAIN_CACHE = "_pgp_plain"
_PLAIN_SOURCE = "_pgp_src"
_MASKS = "_pgp_masks"


class EncryptedAttribute:
    """Data descriptor: stores what Django assigns, decrypts on read."""

    def __init__(self, field: EncryptedField) -> None:
        self.field = field
        self.attname = field.attname
        self._subject_attname: Any = _MISSING

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        attname = self.attname
        data = instance.__dict__
        value = data.get(attname, _MISSING)
        if value.__class__ is Ciphertext:
            masks = data.get(_MASKS)
            if masks and attname in masks:
                return masks[attname]
            cache = data.get(_PLAIN_CACHE)
            if cache is None:
                cache = data[_PLAIN_CACHE] = {}
                sources = data[_PLAIN_SOURCE] = {}
            else:
                sources = data.get(_PLAIN_SOURCE)
                if sources is None:
                    sources = data[_PLAIN_SOURCE] = {}
                elif sources.get(attname) is value:
                    return cache[attname]
            field = self.field
            subject_attname = self._subject_attname
            if subject_attname is _MISSING:
                subject_attname = self._subject_attname = field.subject_attname
            subject = (
                data.get(subject_attname) if subject_attname else ORGANISATION_SUBJECT
            )
            plain = _MISSING
            # Fast path: the row's (subject, key, subject bytes) pinned by attach_keys,
            # matched by identity. Any failure falls through to decrypt() for a
            # proper error.
            if data.get("_pgp_one") is subject:
                try:
                    blob = a2b_base64(value[_PREFIX_LEN:])
                    plain = field._decode(
                        data["_pgp_one_key"].decrypt(
                            blob[:12],
                            blob[12:],
                            field._aad_prefix + data["_pgp_one_aad"],
                        )
                    )
                except Exception:  # noqa: BLE001
                    plain = _MISSING
            if plain is _MISSING:
                plain = field.decrypt(instance, value)
            cache[attname] = plain
            sources[attname] = value
            return plain
        masks = data.get(_MASKS)
        if masks and attname in masks:
            return masks[attname]
        if value is _MISSING:  # deferred: load it like Django would
            instance.refresh_from_db(fields=[attname])
            return self.__get__(instance, owner)
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        attname = self.attname
        data = instance.__dict__
        if (
            value.__class__ is Ciphertext and attname not in data
        ):  # loading from the database
            data[attname] = value
            return
        if value is ERASED or isinstance(value, Masked):
            return  # writing back what a reader saw changes nothing
        current = data.get(attname)
        if (
            isinstance(current, Ciphertext)
            and not isinstance(value, Ciphertext)
            and data.get(_PLAIN_SOURCE, {}).get(attname) is current
            and data[_PLAIN_CACHE].get(attname, _MISSING) == value
        ):
            return  # unchanged plaintext: keep the stored token
        data[attname] = value


_MISSING = object()


class EncryptedField(models.TextField):
    """Base class: a value encrypted with its subject's data key.

    ``subject`` names the attribute that holds the data subject's UUID (the
    person the value is about): ``"person"`` for a foreign key, ``"id"`` on the
    Person model itself, ``None`` for organisation-level values.
    ``sensitivity`` is the floor classification of the value; the record's own
    classification can raise it.
    """

    descriptor_class = EncryptedAttribute  # type: ignore[assignment]
    python_type: type = str
    form_class: type[forms.Field] = forms.CharField

    def __init__(
        self,
        *args: Any,
        subject: str | None = None,
        sensitivity: int = Sensitivity.CONFIDENTIAL,
        **kwargs: Any,
    ) -> None:
        self.subject = subject
        self.sensitivity = int(sensitivity)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("null", True)
        super().__init__(*args, **kwargs)

    # -- model wiring --------------------------------------------------------

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["subject"] = self.subject
        kwargs["sensitivity"] = self.sensitivity
        return name, path, args, kwargs

    def contribute_to_class(  # type: ignore[override]
        self, cls: type[models.Model], name: str, **kwargs: Any
    ) -> None:
        super().contribute_to_class(cls, name, **kwargs)
        # Bound on the *original* model: simple-history copies the field, and
        # the copy must keep the same associated data to read the same tokens.
        if not getattr(self, "aad_label", None):
            self.aad_label = f"{cls._meta.label_lower}.{name}"
        self._aad_prefix = f"{self.aad_label}|".encode()
        # The plaintext decoder, C-level for text fields.
        self._decode = (
            bytes.decode
            if type(self).decode_plain is EncryptedField.decode_plain
            else self.decode_plain
        )
        if not cls._meta.abstract:
            existing = getattr(cls._meta, "encrypted_fields", ())
            cls._meta.encrypted_fields = (*existing, self)  # type: ignore[attr-defined]

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        if self.unique or getattr(self, "db_index", False):
            errors.append(
                checks.Error(
                    "Encrypted fields can't be unique or indexed: ciphertexts differ "
                    "for equal values.",
                    obj=self,
                    id="governance.E001",
                )
            )
        return errors

    @property
    def subject_attname(self) -> str | None:
        cached = self.__dict__.get("_subject_attname", _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        if self.subject is None:
            attname = None
        else:
            try:
                attname = getattr(
                    self.model._meta.get_field(self.subject), "attname", self.subject
                )
            except exceptions.FieldDoesNotExist:
                attname = self.subject
        self.__dict__["_subject_attname"] = attname
        return attname

    def _aad(self, subject: uuid.UUID) -> bytes:
        return self._aad_prefix + subject.bytes

    # -- serialisation of the plaintext -------------------------------------

    def encode_plain(self, value: Any) -> bytes:
        return str(value).encode()

    def decode_plain(self, raw: bytes) -> Any:
        return raw.decode()

    def to_python(self, value: Any) -> Any:
        if value is None or value is ERASED or isinstance(value, (Ciphertext, Masked)):
            return value
        if isinstance(value, str):
            return value
        return str(value)

    # -- encryption ----------------------------------------------------------

    def encrypt(self, instance: Any, value: Any) -> Ciphertext:
        subject = store.subject_of(instance, self.subject_attname)
        dek = store.dek_for_instance(instance, subject, create=True)
        if dek is store.ERASED_KEY:
            raise exceptions.ValidationError(
                "This person's data was erased; no new personal values can be stored for them."
            )
        return Ciphertext(seal(dek, self.encode_plain(value), self._aad(subject)))  # type: ignore[arg-type]

    def decrypt(self, instance: Any, token: Ciphertext) -> Any:
        attname = self.subject_attname
        subject = instance.__dict__.get(attname) if attname else ORGANISATION_SUBJECT
        if subject.__class__ is not uuid.UUID:
            subject = store.subject_of(instance, attname)
        deks = instance.__dict__.get("_pgp_deks")
        dek = deks.get(subject) if deks is not None else None
        if dek is None:
            dek = store.dek_for_instance(instance, subject, create=False)
        if dek is store.ERASED_KEY:
            return ERASED
        return self.decode_plain(open_sealed(dek, token, self._aad(subject)))  # type: ignore[arg-type]

    # -- database boundary ---------------------------------------------------

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else Ciphertext(value)

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        value = model_instance.__dict__.get(self.attname)
        if value is None or isinstance(value, Ciphertext):
            return value
        if value is ERASED or isinstance(value, Masked):
            raise ValueError(
                f"{self.aad_label}: an erased or masked value can't be saved."
            )
        value = self.to_python(value)
        token = self.encrypt(model_instance, value)
        data = model_instance.__dict__
        data[self.attname] = token
        data.setdefault(_PLAIN_CACHE, {})[self.attname] = value
        data.setdefault(_PLAIN_SOURCE, {})[self.attname] = token
        return token

    def get_prep_value(self, value: Any) -> Any:
        if value is None or isinstance(value, Ciphertext):
            return None if value is None else str(value)
        raise TypeError(
            f"{getattr(self, 'aad_label', self.name)} is encrypted: plaintext never "
            "reaches the database. Assign the value on a model instance and save() it "
            "(or use the service layer's bulk path); encrypted columns can't be "
            "filtered or bulk-updated with plaintext."
        )

    def value_to_string(self, obj: Any) -> str:
        # Serialisers (dumpdata) get the sealed token, never plaintext.
        return obj.__dict__.get(self.attname) or ""

    def formfield(self, **kwargs: Any) -> forms.Field:
        defaults: dict[str, Any] = {
            "required": not self.blank,
            "label": self.verbose_name,
        }
        if self.help_text:
            defaults["help_text"] = self.help_text
        if self.choices:
            return super().formfield(**kwargs)  # type: ignore[return-value]
        defaults.update(kwargs)
        for key in (
            ("max_length", "widget") if self.form_class is not forms.CharField else ()
        ):
            defaults.pop(key, None)
        return self.form_class(**defaults)

    def validate(self, value: Any, model_instance: Any) -> None:
        if value is ERASED or isinstance(value, Masked):
            return
        super().validate(value, model_instance)

    def run_validators(self, value: Any) -> None:
        if value is ERASED or isinstance(value, Masked):
            return
        super().run_validators(value)


class EncryptedTextField(EncryptedField):
    def formfield(self, **kwargs: Any) -> forms.Field:
        kwargs.setdefault(
            "widget", forms.Textarea if not self.max_length else forms.TextInput
        )
        return super().formfield(**kwargs)


class EncryptedCharField(EncryptedField):
    """Short encrypted text; ``max_length`` applies to the plaintext."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 255)
        super().__init__(*args, **kwargs)

    def formfield(self, **kwargs: Any) -> forms.Field:
        kwargs.setdefault("max_length", self.max_length)
        return super().formfield(**kwargs)

    def db_type(self, connection: Any) -> str | None:
        # The ciphertext is longer than max_length: store it as text.
        return models.TextField().db_type(connection)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return super().check(**kwargs)


class EncryptedDecimalField(EncryptedField):
    python_type = Decimal
    form_class = forms.DecimalField

    def __init__(
        self, *args: Any, max_digits: int = 18, decimal_places: int = 4, **kwargs: Any
    ):
        self.max_digits = max_digits
        self.decimal_places = decimal_places
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["max_digits"] = self.max_digits
        kwargs["decimal_places"] = self.decimal_places
        return name, path, args, kwargs

    def to_python(self, value: Any) -> Any:
        if value is None or value is ERASED or isinstance(value, (Ciphertext, Masked)):
            return value
        if value == "":
            return None
        try:
            number = Decimal(str(value))
        except (InvalidOperation, ValueError) as exc:
            raise exceptions.ValidationError(
                "“%(value)s” is not a number.", code="invalid", params={"value": value}
            ) from exc
        if not number.is_finite():
            raise exceptions.ValidationError("Enter a finite number.", code="invalid")
        return number

    def encode_plain(self, value: Any) -> bytes:
        return str(value).encode()

    def decode_plain(self, raw: bytes) -> Any:
        return Decimal(raw.decode())

    def formfield(self, **kwargs: Any) -> forms.Field:
        kwargs.setdefault("max_digits", self.max_digits)
        kwargs.setdefault("decimal_places", self.decimal_places)
        return super().formfield(**kwargs)


class EncryptedIntegerField(EncryptedField):
    python_type = int
    form_class = forms.IntegerField

    def to_python(self, value: Any) -> Any:
        if value is None or value is ERASED or isinstance(value, (Ciphertext, Masked)):
            return value
        if value == "":
            return None
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise exceptions.ValidationError(
                "Enter a whole number.", code="invalid"
            ) from exc

    def decode_plain(self, raw: bytes) -> Any:
        return int(raw.decode())


class EncryptedDateField(EncryptedField):
    python_type = datetime.date
    form_class = forms.DateField

    def to_python(self, value: Any) -> Any:
        if value is None or value is ERASED or isinstance(value, (Ciphertext, Masked)):
            return value
        if value == "":
            return None
        if isinstance(value, datetime.datetime):
            return value.date()
        if isinstance(value, datetime.date):
            return value
        try:
            return datetime.date.fromisoformat(str(value))
        except ValueError as exc:
            raise exceptions.ValidationError(
                "Enter a valid date.", code="invalid"
            ) from exc

    def encode_plain(self, value: Any) -> bytes:
        return value.isoformat().encode()

    def decode_plain(self, raw: bytes) -> Any:
        return datetime.date.fromisoformat(raw.decode())


class EncryptedJSONField(EncryptedField):
    python_type = dict
    form_class = forms.JSONField

    def to_python(self, value: Any) -> Any:
        return value

    def encode_plain(self, value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, default=str).encode()

    def decode_plain(self, raw: bytes) -> Any:
        return json.loads(raw)


__all__ = [
    "ERASED",
    "ORGANISATION_SUBJECT",
    "Ciphertext",
    "EncryptedCharField",
    "EncryptedDateField",
    "EncryptedDecimalField",
    "EncryptedField",
    "EncryptedIntegerField",
    "EncryptedJSONField",
    "EncryptedTextField",
    "Masked",
]
