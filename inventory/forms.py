from __future__ import annotations

import re
from typing import Any

from django import forms

from .models import Account

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
# Account names are URL segments beside these fixed paths.
RESERVED_NAMES = {"new"}
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
ACCESS_KEY_ID = re.compile(r"^[A-Z0-9]{16,128}$")


class AccountForm(forms.ModelForm):
    """Create or edit an account; used by the UI and by `add_account`."""

    regions_text = forms.CharField(
        label="Regions",
        required=False,
        help_text="Comma-separated (ap-northeast-1,us-east-1), or 'all' for every enabled region.",
    )

    # Stored encrypted (Account.set_access_keys); never rendered back: blank keeps them.
    access_key_id = forms.CharField(
        label="Access key ID",
        required=False,
        max_length=128,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Access key mode, or the source credentials of an assumed role.",
    )
    secret_access_key = forms.CharField(
        label="Secret access key",
        required=False,
        max_length=256,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    class Meta:
        model = Account
        fields = [
            "name",
            "auth_mode",
            "role_arn",
            "external_id",
            "profile",
            "endpoint_url",
            "sync_interval_hours",
        ]
        widgets = {"external_id": forms.TextInput(attrs={"autocomplete": "off"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and "regions_text" not in self.initial:
            self.initial["regions_text"] = (
                "all" if self.instance.all_regions else ",".join(self.instance.regions)
            )

        if self.instance.pk and self.instance.has_access_keys:
            self.fields[
                "access_key_id"
            ].help_text = (
                f"Stored ({self.instance.access_key_hint}). Leave both blank to keep them."
            )

    @staticmethod
    def initial_data(account: Account) -> dict[str, Any]:
        return {
            "name": account.name,
            "auth_mode": account.auth_mode,
            "role_arn": account.role_arn,
            "external_id": account.external_id,
            "profile": account.profile,
            "endpoint_url": account.endpoint_url,
            "sync_interval_hours": account.sync_interval_hours,
            "regions_text": "all" if account.all_regions else ",".join(account.regions),
        }

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if name in RESERVED_NAMES:
            raise forms.ValidationError(
                "“%(name)s” is reserved; pick another name.", params={"name": name}
            )
        return name

    def clean_regions_text(self) -> str:
        text = self.cleaned_data["regions_text"].strip()
        if text.lower() == "all":
            return "all"
        regions = [r.strip() for r in text.split(",") if r.strip()]
        bad = [r for r in regions if not REGION.match(r)]
        if bad:
            raise forms.ValidationError(
                "Not a region name: %(bad)s (expected names like ap-northeast-1, or 'all').",
                params={"bad": ", ".join(bad)},
            )
        return ",".join(dict.fromkeys(regions))

    def clean_endpoint_url(self) -> str:
        url = self.cleaned_data["endpoint_url"].strip()
        if url and not re.match(r"^https?://[^\s/]+(/\S*)?$", url):
            raise forms.ValidationError("Enter an http(s) URL such as http://127.0.0.1:5000.")
        return url

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        mode = data.get("auth_mode")
        if mode == Account.AuthMode.ROLE:
            arn = (data.get("role_arn") or "").strip()
            if not ROLE_ARN.match(arn):
                self.add_error(
                    "role_arn",
                    "Enter a role ARN like arn:aws:iam::123456789012:role/CatchupReadOnly.",
                )
            if not (data.get("external_id") or "").strip():
                self.add_error(
                    "external_id",
                    "An assumed role needs an ExternalId (the role's trust policy requires it).",
                )
        elif mode == Account.AuthMode.PROFILE and not (data.get("profile") or "").strip():
            self.add_error("profile", "Name the profile to use.")
        key_id = (data.get("access_key_id") or "").strip()
        secret = (data.get("secret_access_key") or "").strip()
        if bool(key_id) != bool(secret):
            # Half a key pair would silently keep the other half of the old one.
            self.add_error("secret_access_key", "Enter both the access key ID and the secret.")
        elif key_id and not ACCESS_KEY_ID.match(key_id):
            self.add_error("access_key_id", "An access key ID looks like AKIAIOSFODNN7EXAMPLE.")
        elif mode == Account.AuthMode.KEYS and not key_id and not self.instance.has_access_keys:
            self.add_error("access_key_id", "Enter the access key ID and its secret.")
        return data

    def apply_credentials(self, account: Account) -> None:
        """Put the typed key pair (or the stored one, when left blank) on `account`.

        Keys are kept only where they are used: access-key mode, or as the
        source of an assumed role.
        """
        data = self.cleaned_data
        key_id = (data.get("access_key_id") or "").strip()
        secret = (data.get("secret_access_key") or "").strip()
        if account.auth_mode not in (Account.AuthMode.KEYS, Account.AuthMode.ROLE):
            account.set_access_keys("", "")
        elif key_id and secret:
            account.set_access_keys(key_id, secret)
        elif self.instance.pk and self.instance is not account:
            account.credentials_encrypted = self.instance.credentials_encrypted

    def save(self, commit: bool = True) -> Account:
        account = super().save(commit=False)
        text = self.cleaned_data.get("regions_text", "")
        account.all_regions = text == "all"
        account.regions = [] if account.all_regions or not text else text.split(",")
        if account.auth_mode != Account.AuthMode.ROLE:
            account.role_arn = ""
            account.external_id = ""
        self.apply_credentials(account)
        if commit:
            account.save()
        return account
