"""The inventory UI in a real browser: add an account, sync it, browse what it holds."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from catchup.roles import Role, set_role
from inventory.models import Resource

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

XSS = '<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2">'


def build_estate(aws) -> dict[str, str]:
    """A VPC with a subnet, a security group and an instance whose Name is hostile."""
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "honban-vpc"}])
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        SecurityGroupIds=[group],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": XSS}]}],
    )["Instances"][0]["InstanceId"]
    return {"vpc": vpc, "subnet": subnet, "instance": instance}


def test_a_newcomer_adds_an_account_syncs_it_and_browses_it(live_server, aws, page, shot, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    estate = build_estate(aws)
    admin = User.objects.create_user("lead", password="pw-e2e-12345")
    set_role(admin, Role.ADMIN)
    url = live_server.url

    # Log in.
    page.goto(f"{url}/")
    page.fill("#id_username", "lead")
    page.fill("#id_password", "pw-e2e-12345")
    shot("01-login")
    page.click("button[type=submit]")
    page.wait_for_selector("text=No AWS account yet")
    shot("02-empty-home")

    # Add an account through the form, testing the connection first.
    page.click("text=Add an account >> nth=0")
    page.fill("#id_name", "legacy")
    page.check("input[name=auth_mode][value=default]")
    page.fill("#id_regions_text", "ap-northeast-1")
    page.click("#test-connection")
    page.wait_for_selector("#tested-account-id")
    assert page.inner_text("#tested-account-id") == "123456789012"
    assert page.url.endswith("/accounts/new/")  # an htmx swap, not a page load
    shot("03-test-connection")
    page.click("text=Add account")
    page.wait_for_selector("h1:has-text('legacy')")

    # Sync, and watch it finish.
    page.click("button:has-text('Sync now')")
    page.wait_for_selector("#sync-status .badge-complete")
    assert "AWS::EC2::Instance" in page.inner_text("#changes")
    shot("04-sync-finished")

    # Resources, filtered by type with an htmx swap that keeps the URL bookmarkable.
    page.goto(f"{url}/accounts/legacy/resources/")
    shot("05-resources")
    page.select_option("#filter-type", "AWS::EC2::Instance")
    page.wait_for_url("**type=AWS%3A%3AEC2%3A%3AInstance**")
    page.wait_for_function("document.querySelectorAll('#results tbody tr').length === 1")
    assert estate["instance"] in page.inner_text("#results")
    assert page.evaluate("window.__xss") is None
    shot("06-resources-filtered")

    # The hostile-named instance: its detail, its relationships, rendered as text.
    instance = Resource.objects.get(resource_id=estate["instance"])
    page.click(f"a[href='/resources/{instance.pk}/']")
    page.wait_for_selector("#relationships")
    assert XSS in page.inner_text("h1")
    relationships = page.inner_text("#relationships")
    assert estate["subnet"] in relationships
    assert "honban-vpc" in relationships
    assert page.evaluate("window.__xss") is None
    shot("07-resource-detail")

    # Follow a relationship to the subnet, which lists the instance as pointing at it.
    page.click(f"#relationships a:has-text('{estate['subnet']}')")
    page.wait_for_selector("h1")
    assert estate["instance"] not in page.inner_text("h1")
    page.wait_for_selector(f"#relationships a[href='/resources/{instance.pk}/']")
    shot("08-subnet-detail")

    assert page.errors == []
