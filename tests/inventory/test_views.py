"""Inventory pages through the Django test client: what each role sees and may do."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from catchup.roles import Role, set_role
from inventory.models import Account, Relationship, Resource, ResourceChange, Sync, SyncTask

REGION = "ap-northeast-1"
XSS = '<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2">'


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """A cheap hasher: these tests are about pages, not password storage."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def login(client, db):
    """Log the test client in with a given role; returns the user."""

    def log_in(role: Role = Role.VIEWER, username: str | None = None) -> User:
        user = User.objects.create_user(username or f"{role.value}-user", password="pw-123456!")
        set_role(user, role)
        client.force_login(user)
        return user

    return log_in


@pytest.fixture
def make_resource(db):
    def make(account: Account, resource_id: str, **fields) -> Resource:
        now = timezone.now()
        fields.setdefault("type", "AWS::EC2::VPC")
        fields.setdefault("region", REGION)
        fields.setdefault("scope", f"ec2.vpcs:{fields['region']}")
        return Resource.objects.create(
            account=account,
            resource_id=resource_id,
            content_hash="x",
            first_seen_at=now,
            changed_at=now,
            **fields,
        )

    return make


def make_resources(account: Account, count: int) -> None:
    now = timezone.now()
    Resource.objects.bulk_create(
        Resource(
            account=account,
            region=REGION if i % 2 else "us-east-1",
            type="AWS::EC2::Instance" if i % 3 else "AWS::EC2::VPC",
            resource_id=f"i-{i:08d}",
            scope="ec2.instances:" + REGION,
            name=f"web-{i}",
            tags={"Name": f"web-{i}", "env": "prod" if i % 2 else "dev"},
            content_hash="x",
            first_seen_at=now,
            changed_at=now,
        )
        for i in range(count)
    )


# --- Permissions -------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(client, make_account):
    account = make_account()
    for url in ["/", "/accounts/", f"/accounts/{account.name}/", "/accounts/new/", "/team/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url


def test_a_viewer_sees_pages_but_cannot_change_anything(client, login, make_account):
    account = make_account()
    login(Role.VIEWER)

    assert client.get(f"/accounts/{account.name}/").status_code == 200
    assert b'action="/accounts/legacy/sync/"' not in client.get("/accounts/legacy/").content
    assert client.post(f"/accounts/{account.name}/sync/").status_code == 403
    assert client.post("/accounts/new/", {"name": "x", "auth_mode": "default"}).status_code == 403
    assert client.get("/accounts/new/").status_code == 403
    assert client.post(f"/accounts/{account.name}/edit/", {"name": "y"}).status_code == 403
    assert client.post(f"/accounts/{account.name}/test/", {}).status_code == 403
    assert Sync.objects.count() == 0
    assert list(Account.objects.values_list("name", flat=True)) == ["legacy"]


def test_an_editor_may_sync_but_not_manage_accounts(client, login, make_account):
    account = make_account()
    login(Role.EDITOR)

    assert b'action="/accounts/legacy/sync/"' in client.get(f"/accounts/{account.name}/").content
    assert client.get(f"/accounts/{account.name}/edit/").status_code == 403


# --- Home and accounts ---------------------------------------------------------------


def test_home_explains_how_to_add_the_first_account(client, login):
    login(Role.ADMIN)
    page = client.get("/").content.decode()
    assert "No AWS account yet" in page
    assert "manage.py add_account" in page
    assert 'href="/accounts/new/"' in page


def test_home_lists_accounts_with_their_last_sync_and_resource_count(client, login, make_account):
    account = make_account()
    make_resources(account, 7)
    Sync.objects.create(account=account, status=Sync.Status.PARTIAL, finished_at=timezone.now())
    login(Role.EDITOR)

    page = client.get("/").content.decode()

    assert 'href="/accounts/legacy/"' in page
    assert "badge-partial" in page
    assert ">7</a>" in page
    assert 'action="/accounts/legacy/sync/"' in page


@pytest.mark.parametrize("url", ["/", "/accounts/"])
def test_account_lists_make_the_same_queries_whatever_the_size(
    client, login, make_account, django_assert_max_num_queries, url
):
    login(Role.ADMIN)
    small, big = make_account("small"), make_account("big")
    make_resources(small, 10)
    client.get(url)  # warm the role cache and session
    with django_assert_max_num_queries(50) as small_run:
        client.get(url)
    make_resources(big, 200)
    for name in ("a", "b", "c"):
        account = make_account(name)
        Sync.objects.create(account=account, status=Sync.Status.COMPLETE)
    with django_assert_max_num_queries(50) as big_run:
        assert client.get(url).status_code == 200
    assert len(big_run.captured_queries) == len(small_run.captured_queries)


def test_an_admin_adds_an_account_through_the_form(client, login):
    login(Role.ADMIN)
    response = client.post(
        "/accounts/new/",
        {
            "name": "honban",
            "auth_mode": "role",
            "role_arn": "arn:aws:iam::210987654321:role/CatchupReadOnly",
            "external_id": "s3cret-external",
            "regions_text": "ap-northeast-1, us-east-1",
            "sync_interval_hours": "0",
        },
    )
    assert response.status_code == 302
    account = Account.objects.get(name="honban")
    assert response["Location"] == "/accounts/honban/"
    assert account.regions == ["ap-northeast-1", "us-east-1"]
    assert account.external_id == "s3cret-external"


def test_a_malformed_account_form_comes_back_with_field_errors(client, login):
    login(Role.ADMIN)
    response = client.post(
        "/accounts/new/",
        {
            "name": "bad",
            "auth_mode": "role",
            "role_arn": "not-an-arn",
            "regions_text": "tokyo",
            "sync_interval_hours": "0",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Enter a role ARN like" in page
    assert "An assumed role needs an ExternalId" in page
    assert "Not a region name: tokyo" in page
    assert not Account.objects.exists()


def test_the_edit_form_never_echoes_the_external_id_and_keeps_it_when_left_blank(
    client, login, make_account
):
    account = make_account(
        "honban",
        auth_mode="role",
        role_arn="arn:aws:iam::210987654321:role/CatchupReadOnly",
        external_id="very-secret-id",
    )
    login(Role.ADMIN)

    page = client.get("/accounts/honban/edit/").content.decode()
    assert "very-secret-id" not in page
    assert "arn:aws:iam::210987654321:role/CatchupReadOnly" in page

    response = client.post(
        "/accounts/honban/edit/",
        {
            "name": "honban",
            "auth_mode": "role",
            "role_arn": account.role_arn,
            "external_id": "",
            "regions_text": "all",
            "sync_interval_hours": "6",
        },
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.external_id == "very-secret-id"
    assert account.all_regions and account.sync_interval_hours == 6


def test_test_connection_shows_the_identity_and_regions_without_saving(client, login, aws):
    login(Role.ADMIN)
    response = client.post(
        "/accounts/new/test/",
        {"name": "", "auth_mode": "default", "regions_text": "ap-northeast-1,xx-nowhere-9"},
        headers={"HX-Request": "true"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page  # only the fragment
    assert "123456789012" in page
    assert "arn:aws:sts::123456789012" in page
    assert "ap-northeast-1" in page
    assert "xx-nowhere-9" in page  # requested, but not enabled
    assert not Account.objects.exists()


def test_test_connection_with_an_assumed_role(client, login, aws):
    login(Role.ADMIN)
    page = client.post(
        "/accounts/new/test/",
        {
            "auth_mode": "role",
            "role_arn": "arn:aws:iam::210987654321:role/CatchupReadOnly",
            "external_id": "ext-1",
            "regions_text": "all",
        },
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "Connected" in page
    assert "210987654321" in page
    assert "ext-1" not in page


def test_test_connection_says_why_it_failed_in_words(client, login, aws_credentials, monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    login(Role.ADMIN)
    page = client.post(
        "/accounts/new/test/",
        {"auth_mode": "profile", "profile": "nosuchprofile", "regions_text": ""},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "Could not connect" in page
    assert "ProfileNotFound" in page


def test_test_connection_without_javascript_renders_the_whole_form(client, login, aws):
    login(Role.ADMIN)
    response = client.post("/accounts/new/test/", {"name": "x", "auth_mode": "default"})
    page = response.content.decode()
    assert "<html" in page
    assert "123456789012" in page
    assert 'value="x"' in page


def test_the_account_page_counts_resources_by_type(client, login, make_account):
    account = make_account()
    make_resources(account, 9)
    login()
    page = client.get("/accounts/legacy/").content.decode()
    assert "AWS::EC2::Instance" in page
    assert "?type=AWS%3A%3AEC2%3A%3AVPC" in page
    assert "Never synced" in page


# --- Syncs -------------------------------------------------------------------------------


def test_the_sync_button_queues_exactly_one_sync(
    client, login, make_account, django_capture_on_commit_callbacks, settings, monkeypatch
):
    from inventory import tasks

    settings.CATCHUP_TASK_MODE = "celery"  # queue only; the "broker" is this list
    sent = []
    monkeypatch.setattr(tasks.run_sync_task, "apply_async", lambda **kw: sent.append(kw))
    account = make_account()
    login(Role.EDITOR)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/legacy/sync/")

    sync = Sync.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/syncs/{sync.pk}/"
    assert sync.account == account and sync.status == Sync.Status.QUEUED
    assert sent == [{"kwargs": {"sync_id": sync.pk}}]


def test_a_second_sync_request_is_told_one_is_running(client, login, make_account):
    account = make_account()
    running = Sync.objects.create(
        account=account, status=Sync.Status.RUNNING, heartbeat_at=timezone.now()
    )
    login(Role.EDITOR)

    response = client.post("/accounts/legacy/sync/", follow=True)

    assert response.redirect_chain[0][0] == f"/syncs/{running.pk}/"
    assert "already running" in response.content.decode()
    assert Sync.objects.count() == 1


def test_pressing_sync_runs_it_and_shows_the_outcome(
    client, login, aws, make_account, django_capture_on_commit_callbacks
):
    aws.client("ec2").create_vpc(CidrBlock="10.1.0.0/16")
    make_account()
    login(Role.EDITOR)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/legacy/sync/")

    sync = Sync.objects.get()
    assert sync.status == Sync.Status.COMPLETE
    page = client.get(response["Location"]).content.decode()
    assert "badge-complete" in page
    assert "AWS::EC2::VPC" in page  # the list of what changed
    assert "hx-get" not in page.split('id="sync-status"')[1].split(">")[0]  # no polling


def test_the_status_fragment_polls_while_running_and_stops_when_finished(
    client, login, make_account
):
    account = make_account()
    sync = Sync.objects.create(
        account=account,
        status=Sync.Status.RUNNING,
        tasks_total=4,
        tasks_done=1,
        resources_collected=12,
    )
    SyncTask.objects.create(
        sync=sync,
        collector="ec2.vpcs",
        region="eu-west-1",
        status=SyncTask.Status.FAILED,
        error_code="UnauthorizedOperation",
        error_message="The identity Catchup uses may not call DescribeVpcs.",
    )
    login()

    detail = client.get(f"/syncs/{sync.pk}/").content.decode()
    assert f'hx-get="/syncs/{sync.pk}/status/"' in detail

    running = client.get(f"/syncs/{sync.pk}/status/", headers={"HX-Request": "true"})
    assert running.status_code == 200
    text = running.content.decode()
    assert "<strong>1</strong> of <strong>4</strong>" in text
    assert "<strong>12</strong> resources so far" in text
    assert "UnauthorizedOperation" in text and "eu-west-1" in text

    Sync.objects.filter(pk=sync.pk).update(
        status=Sync.Status.PARTIAL, finished_at=timezone.now(), tasks_done=4, added=3
    )
    finished = client.get(f"/syncs/{sync.pk}/status/", headers={"HX-Request": "true"})
    assert finished.status_code == 286
    text = finished.content.decode()
    assert "badge-partial" in text
    assert 'id="changes" hx-swap-oob="true"' in text


def test_sync_detail_lists_failed_units_warnings_and_changes(
    client, login, make_account, make_resource
):
    account = make_account()
    sync = Sync.objects.create(
        account=account,
        status=Sync.Status.PARTIAL,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        api_calls=42,
        warnings=["Region xx-1 is not enabled"],
        error="1 of 2 collections failed",
    )
    SyncTask.objects.create(
        sync=sync,
        collector="ec2.instances",
        region=REGION,
        status=SyncTask.Status.FAILED,
        error_code="Throttling",
        error_message=f"AWS kept throttling {XSS}",
    )
    vpc = make_resource(account, "vpc-1", name="honban-vpc")
    ResourceChange.objects.create(sync=sync, resource=vpc, kind="added", after={})
    login()

    page = client.get(f"/syncs/{sync.pk}/").content.decode()

    assert "Throttling" in page and "ec2.instances" in page
    assert "Region xx-1 is not enabled" in page
    assert "<strong>42</strong> AWS calls" in page
    assert "honban-vpc" in page
    assert XSS not in page
    assert "&lt;script&gt;" in page


# --- Resources ---------------------------------------------------------------------------


def test_resource_list_filters_by_type_region_tag_and_search(client, login, make_account):
    account = make_account()
    make_resources(account, 30)
    login()
    url = f"/accounts/{account.name}/resources/"

    def ids(**params) -> set[str]:
        page = client.get(url, params).context["page"]
        return {r.resource_id for r in page.object_list}

    assert len(ids()) == 30
    assert all(i % 3 == 0 for i in (int(x[2:]) for x in ids(type="AWS::EC2::VPC")))
    assert all(int(x[2:]) % 2 for x in ids(region=REGION))
    assert ids(tag="env=dev") == {f"i-{i:08d}" for i in range(0, 30, 2)}
    assert len(ids(tag="env")) == 30
    assert ids(tag="owner") == set()
    assert ids(q="web-17") == {"i-00000017"}
    assert ids(q="I-0000002") == {f"i-{i:08d}" for i in range(20, 30)}


def test_resource_list_hides_removed_resources_unless_asked(
    client, login, make_account, make_resource
):
    account = make_account()
    make_resource(account, "vpc-gone", removed_at=timezone.now())
    make_resource(account, "vpc-here")
    login()
    url = f"/accounts/{account.name}/resources/"
    assert "vpc-gone" not in client.get(url).content.decode()
    assert "vpc-gone" in client.get(url, {"removed": "1"}).content.decode()


def test_resource_list_htmx_gets_only_the_results_table(client, login, make_account):
    account = make_account()
    make_resources(account, 3)
    login()
    response = client.get(
        f"/accounts/{account.name}/resources/",
        {"type": "AWS::EC2::VPC"},
        headers={"HX-Request": "true"},
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="results">')
    assert "<html" not in page


def test_resource_list_paginates_with_a_constant_number_of_queries(
    client, login, make_account, django_assert_max_num_queries, settings
):
    settings.CATCHUP_PAGE_SIZE = 25
    small, big = make_account("small"), make_account("big")
    make_resources(small, 10)
    make_resources(big, 200)
    login()
    client.get("/accounts/small/resources/")
    with django_assert_max_num_queries(20) as small_run:
        client.get("/accounts/small/resources/", {"tag": "env"})
    with django_assert_max_num_queries(20) as big_run:
        response = client.get("/accounts/big/resources/", {"tag": "env", "page": "3"})
    assert len(big_run.captured_queries) == len(small_run.captured_queries)
    page = response.content.decode()
    assert "Page 3 of 8" in page
    assert "?tag=env&amp;page=4" in page  # filters survive in the pager links


def test_resource_detail_shows_config_tags_relationships_and_history(
    client, login, make_account, make_resource
):
    account = make_account()
    vpc = make_resource(account, "vpc-1", name="honban-vpc")
    subnet = make_resource(
        account,
        "subnet-1",
        type="AWS::EC2::Subnet",
        name=XSS,
        tags={"Name": XSS, "env": "prod"},
        config={"CidrBlock": "10.0.1.0/24", "Description": XSS},
        arn="arn:aws:ec2:ap-northeast-1:123456789012:subnet/subnet-1",
    )
    instance = make_resource(account, "i-1", type="AWS::EC2::Instance", name="batch01")
    Relationship.objects.create(
        account=account,
        source=subnet,
        kind="in-vpc",
        target_type="AWS::EC2::VPC",
        target_id="vpc-1",
    )
    Relationship.objects.create(
        account=account,
        source=subnet,
        kind="uses-acl",
        target_type="AWS::EC2::NetworkAcl",
        target_id="acl-missing",
    )
    Relationship.objects.create(
        account=account,
        source=instance,
        kind="in-subnet",
        target_type="AWS::EC2::Subnet",
        target_id="subnet-1",
    )
    sync = Sync.objects.create(account=account, status=Sync.Status.COMPLETE)
    ResourceChange.objects.create(
        sync=sync,
        resource=subnet,
        kind="changed",
        before={"config.CidrBlock": "10.0.0.0/24"},
        after={"config.CidrBlock": "10.0.1.0/24"},
    )
    login()

    page = client.get(f"/resources/{subnet.pk}/").content.decode()

    assert XSS not in page
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    assert f'href="/resources/{vpc.pk}/"' in page and "honban-vpc" in page  # outgoing, resolved
    assert "acl-missing" in page and "not collected" in page  # outgoing, unknown target
    assert f'href="/resources/{instance.pk}/"' in page and "batch01" in page  # incoming
    assert "&quot;CidrBlock&quot;: &quot;10.0.1.0/24&quot;" in page  # pretty JSON, escaped
    assert "config.CidrBlock" in page and "10.0.0.0/24" in page  # field-level history
    assert "arn:aws:ec2:ap-northeast-1:123456789012:subnet/subnet-1" in page


def test_unknown_pages_are_404(client, login):
    login()
    assert client.get("/accounts/nope/").status_code == 404
    assert client.get("/resources/999999/").status_code == 404
    assert client.get("/syncs/999999/status/").status_code == 404
