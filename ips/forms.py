"""Forms of the unknown-IP pages: the queue's filters, its bulk actions, the answer form of
one CIDR and the "annotate a range" box. Every write still goes through `ips.actions`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from inventory.models import Account

from . import actions
from .models import Annotation, Classification, IpReference
from .ports import WELL_KNOWN

DATE = forms.DateInput(attrs={"type": "date"})

STATUS_CHOICES = [
    ("", "Any status"),
    ("unknown", "Nobody asked yet"),
    ("asked", "Asked, no answer"),
    ("answered", "Answered"),
    ("decided", "Decided"),
    ("review-due", "Review due"),
]
SORT_CHOICES = [
    ("exposure", "Exposure (ports, rules)"),
    ("references", "Most rules"),
    ("cidr", "CIDR"),
    ("changed", "Last change"),
]
# Hints as ObservedCidr.hints stores them ("ssh 22", "all traffic"): the service name.
HINT_CHOICES = [
    ("", "Any port"),
    ("all traffic", "all traffic"),
    *[(name, f"{name} {port}") for port, name in sorted(WELL_KNOWN.items())],
]
ALL = "all"


class QueueFilterForm(forms.Form):
    """The queue's filters; every field optional, an unknown value falls back to the default."""

    classification = forms.ChoiceField(
        choices=[*Classification.choices, (ALL, "Every class")], required=False
    )
    account = forms.ModelChoiceField(
        queryset=Account.objects.order_by("name"),
        to_field_name="name",
        required=False,
        empty_label="All accounts",
    )
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    kind = forms.ChoiceField(
        choices=[("", "Any place"), *IpReference.Kind.choices], required=False, label="Used in"
    )
    hint = forms.ChoiceField(choices=HINT_CHOICES, required=False, label="Port")
    q = forms.CharField(required=False, max_length=200, label="Search")
    sort = forms.ChoiceField(choices=SORT_CHOICES, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs.update(
            {"placeholder": "CIDR, rule description, owner…", "type": "search"}
        )

    def value(self, name: str, default: str = "") -> Any:
        if not self.is_bound or not self.is_valid():
            return default
        return self.cleaned_data.get(name) or default

    @property
    def chosen_class(self) -> str:
        # The queue of unexplained addresses by default; a status filter alone looks at
        # every class (an answered or decided address is no longer "unknown").
        default = ALL if self.value("status") else Classification.UNKNOWN
        return self.value("classification", default)

    @property
    def chosen_sort(self) -> str:
        return self.value("sort", "exposure")

    @property
    def chosen_account(self) -> Account | None:
        return self.value("account", None)

    def filter(self, queryset: QuerySet, *, with_class: bool = True) -> QuerySet:
        """Observed CIDRs matching everything but (when `with_class` is False) the class:
        the class chips count over the rest of the filter."""
        if with_class and self.chosen_class != ALL:
            queryset = queryset.filter(classification=self.chosen_class)
        if not self.is_bound or not self.is_valid():
            return queryset
        data = self.cleaned_data
        if data.get("account"):
            queryset = queryset.filter(account=data["account"])
        status = data.get("status")
        if status == "unknown":
            queryset = queryset.filter(
                Q(annotation__isnull=True) | Q(annotation__status=Annotation.Status.UNKNOWN)
            )
        elif status == "review-due":
            queryset = queryset.filter(
                annotation__decision=Annotation.Decision.REVIEW,
                annotation__review_on__lte=timezone.localdate(),
            )
        elif status:
            queryset = queryset.filter(annotation__status=status)
        # kinds and hints are JSON lists of strings: match the quoted item as text, which
        # works the same on SQLite and PostgreSQL.
        if data.get("kind"):
            queryset = queryset.filter(kinds__icontains=f'"{data["kind"]}"')
        if data.get("hint"):
            hint = data["hint"]
            needle = '"all traffic"' if hint == "all traffic" else f'"{hint} '
            queryset = queryset.filter(hints__icontains=needle)
        if data.get("q"):
            q = data["q"].strip()
            # A plain (not correlated) sub-search: planners run it once, whatever their
            # statistics say (a correlated EXISTS ran once per row before an ANALYZE).
            described = IpReference.objects.filter(
                Q(description__icontains=q)
                | Q(resource_name__icontains=q)
                | Q(resource_id_text__icontains=q)
            )
            if data.get("account"):
                described = described.filter(account=data["account"])
            queryset = queryset.filter(
                Q(cidr__icontains=q)
                | Q(detail__icontains=q)
                | Q(annotation__owner__icontains=q)
                | Q(annotation__purpose__icontains=q)
                | Q(cidr__in=described.values("cidr"))
            )
        return queryset


class BulkForm(forms.Form):
    """One action on the checked CIDRs of the queue."""

    ACTIONS = [
        ("ask", "Mark asked"),
        ("decide", "Decide"),
        ("message", "Write ask message"),
        ("link", "Ask by link"),
    ]

    action = forms.ChoiceField(choices=ACTIONS)
    asked_whom = forms.CharField(
        required=False,
        max_length=200,
        label="Asked whom",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Sato (network team)"}),
    )
    decision = forms.ChoiceField(
        choices=[("", "—"), *[c for c in Annotation.Decision.choices if c[0]]], required=False
    )
    review_on = forms.DateField(required=False, widget=DATE, label="Review on")
    account = forms.ModelChoiceField(
        queryset=Account.objects.all(), to_field_name="name", required=False
    )
    only_account = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        cidrs, errors = actions.canonical_list(self.data.getlist("cidrs") if self.data else [])
        if errors:
            self.add_error(None, ValidationError(errors))
        elif not cidrs:
            self.add_error(None, "Check at least one CIDR.")
        data["cidrs"] = cidrs
        action = data.get("action")
        if action == "ask" and not (data.get("asked_whom") or "").strip():
            self.add_error("asked_whom", "Say whom you asked.")
        if action == "decide":
            decision = data.get("decision")
            if not decision:
                self.add_error("decision", "Choose keep, remove or review again.")
            elif decision == Annotation.Decision.REVIEW and not data.get("review_on"):
                if "review_on" not in self.errors:
                    self.add_error("review_on", "Review again needs a date.")
            elif decision != Annotation.Decision.REVIEW and data.get("review_on"):
                self.add_error("review_on", "A review date goes with “review again”.")
        if data.get("only_account") and not data.get("account"):
            self.add_error("only_account", "Filter the queue to one account first.")
        return data

    @property
    def scope(self) -> Account | None:
        data = self.cleaned_data
        return data.get("account") if data.get("only_account") else None


class AnnotationForm(forms.Form):
    """The answer form of one CIDR: question, answer and decision, for one scope."""

    scope = forms.ChoiceField(
        required=False,
        label="Applies to",
        help_text="An answer for one account beats one for every account at the same range.",
    )
    asked_whom = forms.CharField(required=False, max_length=200, label="Asked whom")
    owner = forms.CharField(
        required=False,
        max_length=200,
        help_text="Whose address it is: a team, a vendor, a customer.",
    )
    purpose = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="What it is for"
    )
    answered_by = forms.CharField(required=False, max_length=200, label="Answered by")
    evidence = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Evidence or link",
        help_text="A ticket, a chat message, a contract.",
    )
    decision = forms.ChoiceField(choices=Annotation.Decision.choices, required=False)
    review_on = forms.DateField(required=False, widget=DATE, label="Review again on")
    # The scope and last change of the annotation the page showed: a save over someone
    # else's newer answer is refused instead of silently undoing it.
    version = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, accounts: list[Account], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accounts = {a.name: a for a in accounts}
        self.fields["scope"].choices = [("", "Every account")] + [
            (a.name, f"Only {a.name}") for a in accounts
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if (data.get("purpose") or data.get("answered_by")) and not data.get("owner"):
            self.add_error("owner", "Whose address is it? An answer needs the owner.")
        decision = data.get("decision")
        no_date = not data.get("review_on") and "review_on" not in self.errors
        if decision == Annotation.Decision.REVIEW and no_date:
            self.add_error("review_on", "Review again needs a date.")
        if data.get("review_on") and decision != Annotation.Decision.REVIEW:
            self.add_error("review_on", "A review date goes with the decision “review again”.")
        return data

    @property
    def chosen_account(self) -> Account | None:
        return self.accounts.get(self.cleaned_data.get("scope") or "")

    @staticmethod
    def version_of(scope: str, annotation: Annotation | None) -> str:
        return f"{scope}|{annotation.updated_at.isoformat() if annotation else ''}"

    def values(self) -> dict[str, Any]:
        """What to store: the form's fields (actions.apply sets the time asked when whom
        changes)."""
        data = self.cleaned_data
        values: dict[str, Any] = {
            field: (data.get(field) or "").strip()
            for field in ("asked_whom", "owner", "purpose", "answered_by", "evidence")
        }
        values["decision"] = data.get("decision") or ""
        values["review_on"] = data.get("review_on")
        return values


class RangeForm(forms.Form):
    """'Annotate a range': any CIDR, seen or not, opens its page."""

    range = forms.CharField(
        max_length=64,
        label="Annotate a range",
        widget=forms.TextInput(attrs={"placeholder": "198.51.100.0/24", "spellcheck": "false"}),
    )

    def clean_range(self) -> str:
        return actions.canonical(self.cleaned_data["range"])
