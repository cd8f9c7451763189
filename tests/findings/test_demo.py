"""The demo's legacy estate: the rules raise what the seeds would have a newcomer find,
a teammate takes one, and fixing the estate and re-syncing resolves it."""

from __future__ import annotations

import pytest

from findings import actions
from findings.models import Finding
from inventory import demo

pytestmark = pytest.mark.django_db

SEEDS_WOULD_FIND = {
    "sg-ssh-open-to-world",  # seed 004
    "sg-db-port-open-to-world",
    "sg-rule-unexplained-source",  # seed 000: 203.0.113.45 with no description
    "production-named-resource",  # seed 000: honban links
    "rds-backup-retention-short",  # seed 000/003
    "rds-window-in-business-hours",
    "rds-not-multi-az",
    "rds-parameter-group-modified",
    "cloudtrail-not-all-regions",  # seed 001
    "config-not-recording",
    "vpc-flow-logs-off",  # seed 002
    "elb-access-logs-off",  # seed 001
    "s3-bucket-public",
    "logs-group-no-retention",  # seed 003
    "eip-unassociated",
    "ebs-gp2-volume",
    "default-vpc-in-use",
    "resources-in-unexpected-region",  # seed 001: the miner in sa-east-1
    "nacl-blocks-intra-vpc",  # seed 002
    "single-instance-role",  # batch01
    "ec2-not-ssm-managed",
}


def test_the_demo_estate_raises_the_seeds_findings_and_a_fix_resolves(
    aws, make_account, make_user, run_sync, django_capture_on_commit_callbacks
):
    ids = demo.build_legacy_estate(aws)
    account = make_account("demo", regions=demo.REGIONS)

    def sync():
        with django_capture_on_commit_callbacks(execute=True):
            return run_sync(account)

    assert sync().status == "complete"
    raised = set(Finding.objects.values_list("rule", flat=True))
    assert raised >= SEEDS_WOULD_FIND
    miner = Finding.objects.get(rule="resources-in-unexpected-region")
    assert miner.resource_id == ids["unused_region_instance"] and miner.region == "sa-east-1"
    unexplained = Finding.objects.filter(rule="sg-rule-unexplained-source")
    # No description, and nobody has said whose: the stranger, and somebody's EC2 address.
    assert {f.evidence["rule"]["cidr"] for f in unexplained} == {
        demo.UNEXPLAINED_IP,
        demo.MONITORING_IP,
    }

    lead, mate = make_user("lead"), make_user("mate")
    ssh = Finding.objects.filter(rule="sg-ssh-open-to-world")
    for finding in ssh:
        actions.assign(finding, by=lead, assignee=mate)
    assert set(Finding.objects.assigned_to(mate)) == set(ssh)

    ec2 = aws.client("ec2", region_name=demo.HOME_REGION)
    for finding in ssh:
        group = ec2.describe_security_groups(GroupIds=[finding.resource_id])["SecurityGroups"][0]
        world = [p for p in group["IpPermissions"] if p.get("FromPort") == 22]
        ec2.revoke_security_group_ingress(GroupId=finding.resource_id, IpPermissions=world)
    assert sync().status == "complete"
    assert {f.status for f in Finding.objects.filter(rule="sg-ssh-open-to-world")} == {"resolved"}
    assert Finding.objects.get(pk=miner.pk).status == "open"
