"""Human knowledge survives 50 randomized re-syncs, partial ones included: triage of
findings, and owners' answers on the addresses of security groups that are deleted and
recreated with new ids but the same CIDRs."""

from __future__ import annotations

import random

import pytest
from django.contrib.auth import get_user_model

from catchup.roles import Role, set_role
from findings import actions
from findings.models import Comment, Finding, FindingEvent
from inventory.models import Resource, ResourceChange, Sync
from ips import actions as ip_actions
from ips.models import Annotation, AnnotationEvent, IpReference, ObservedCidr
from tests.support.faults import FaultInjector, fast_retries

pytestmark = [pytest.mark.chaos, pytest.mark.django_db]

REGION = "ap-northeast-1"
SYNCS = 50
SEED = 20261123
SG_TYPE = "AWS::EC2::SecurityGroup"
INSTANCE_TYPE = "AWS::EC2::Instance"
# A failing describe call and the scope (and resource type) it leaves uncollected.
SCOPES = {
    "DescribeSecurityGroups": (f"ec2.security_groups:{REGION}", SG_TYPE),
    "DescribeInstances": (f"ec2.instances:{REGION}", INSTANCE_TYPE),
}
SSH_WORLD = {
    "IpProtocol": "tcp",
    "FromPort": 22,
    "ToPort": 22,
    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
}
CHURN = {f"churn-{k}": f"198.51.100.{10 + k}/32" for k in range(4)}


def _rule(cidr: str, port: int = 443) -> dict:
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}


def _human() -> tuple[list[dict], list[dict]]:
    events = list(FindingEvent.objects.filter(actor__isnull=False).order_by("pk").values())
    comments = list(Comment.objects.order_by("pk").values())
    return events, comments


def _ip_knowledge() -> tuple[list[dict], list[dict]]:
    annotations = list(Annotation.objects.order_by("pk").values())
    events = list(AnnotationEvent.objects.order_by("pk").values())
    return annotations, events


# Churned groups whose address an owner explained; churn-0's stays unexplained.
ANSWERED = {name: cidr for name, cidr in CHURN.items() if name != "churn-0"}


def _answers_apply(account, churn: dict[str, str], answers: dict[str, int]) -> int:
    """Every present answered CIDR shows as annotated by its one annotation; how many."""
    present = [CHURN[name] for name in ANSWERED if name in churn]
    rows = dict(
        ObservedCidr.objects.filter(account=account, cidr__in=present).values_list(
            "cidr", "annotation_id"
        )
    )
    classes = set(
        ObservedCidr.objects.filter(account=account, cidr__in=present).values_list(
            "classification", flat=True
        )
    )
    assert rows == {cidr: answers[cidr] for cidr in present}
    assert classes <= {"annotated"}
    return len(present)


def test_triage_survives_50_randomized_resyncs(
    aws, make_account, run_sync, ec2_only, django_capture_on_commit_callbacks
):
    rng = random.Random(SEED)
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]

    def group(name: str, cidr: str, port: int = 443) -> str:
        gid = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[_rule(cidr, port)])
        return gid

    bastion = group("bastion", "203.0.113.7/32", 80)
    ec2.authorize_security_group_ingress(GroupId=bastion, IpPermissions=[SSH_WORLD])
    honban = group("honban-web", "203.0.113.45/32")
    churn = {name: group(name, cidr) for name, cidr in CHURN.items()}
    ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2, SubnetId=subnet)
    churn_instances: list[str] = []

    account = make_account()
    injector = FaultInjector(seed=SEED)

    def sync() -> Sync:
        with django_capture_on_commit_callbacks(execute=True):
            return run_sync(account)

    with injector.install(), fast_retries():
        first = sync()
        assert first.status == Sync.Status.COMPLETE

        # People triage what the first sync found.
        users = get_user_model().objects
        alice = users.create_user("alice", password="pw-for-tests-only")
        bob = users.create_user("bob", password="pw-for-tests-only")
        for user in (alice, bob):
            set_role(user, Role.EDITOR)
        ssh = Finding.objects.get(rule="sg-ssh-open-to-world", resource_id=bastion)
        actions.acknowledge(ssh, by=alice, note="known bastion, asking the network team")
        actions.assign(ssh, by=alice, assignee=bob)
        actions.comment(ssh, by=bob, body="Owner: **infra-team**; 0.0.0.0/0 since 2016 <script>")
        accepted = Finding.objects.filter(resource_id=honban).order_by("pk").first()
        assert accepted is not None
        reason = "Partner CDN 203.0.113.45, contract #42 — reviewed with 田中さん"
        actions.accept_risk(accepted, by=alice, reason=reason)
        churned = Finding.objects.filter(resource_id=churn["churn-0"]).order_by("pk").first()
        assert churned is not None
        actions.comment(churned, by=alice, body="Who owns 198.51.100.10? Asked in #ops.")
        actions.assign(churned, by=alice, assignee=alice)
        events_before, comments_before = _human()
        assert (len(events_before), len(comments_before)) == (6, 2)

        # Owners' answers on the churned groups' addresses, and one open question.
        answers = {}
        for name, cidr in ANSWERED.items():
            (note,) = ip_actions.answer(
                ip_actions.Target(cidr),
                owner=f"partner {name}",
                purpose="nightly sync <b>",
                answered_by="田中さん",
                actor=alice,
            )
            answers[cidr] = note.pk
        ip_actions.ask([ip_actions.Target("203.0.113.45/32", account)], "network team", actor=bob)
        ip_knowledge_before = _ip_knowledge()
        assert [len(rows) for rows in ip_knowledge_before] == [4, 4]
        answers_checked = 0

        ssh_open = True
        counts = {"recreated": 0, "removed": 0, "added": 0, "toggled": 0, "partial": 0}
        checked_in_partial = 0
        for i in range(SYNCS):
            for _ in range(rng.randint(1, 3)):
                move = rng.choice(["recreate", "remove", "add", "instance", "toggle"])
                present = [n for n in CHURN if n in churn]
                if move == "recreate" and present:
                    name = rng.choice(present)
                    ec2.delete_security_group(GroupId=churn.pop(name))
                    churn[name] = group(name, CHURN[name])  # new id, same name and CIDR
                    counts["recreated"] += 1
                elif move == "remove" and present:
                    ec2.delete_security_group(GroupId=churn.pop(rng.choice(present)))
                    counts["removed"] += 1
                elif move == "add" and len(present) < len(CHURN):
                    name = rng.choice([n for n in CHURN if n not in churn])
                    churn[name] = group(name, CHURN[name])
                    counts["added"] += 1
                elif move == "instance":
                    if churn_instances and rng.random() < 0.5:
                        ec2.terminate_instances(InstanceIds=[churn_instances.pop()])
                    else:
                        run = ec2.run_instances(
                            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet
                        )
                        churn_instances.append(run["Instances"][0]["InstanceId"])
                elif move == "toggle":
                    if ssh_open:
                        ec2.revoke_security_group_ingress(
                            GroupId=bastion, IpPermissions=[SSH_WORLD]
                        )
                    else:
                        ec2.authorize_security_group_ingress(
                            GroupId=bastion, IpPermissions=[SSH_WORLD]
                        )
                    ssh_open = not ssh_open
                    counts["toggled"] += 1

            partial_op = rng.choice(list(SCOPES)) if rng.random() < 0.3 else None
            if partial_op is None:
                assert sync().status == Sync.Status.COMPLETE
                answers_checked += _answers_apply(account, churn, answers)
                continue
            scope, type_ = SCOPES[partial_op]
            current = set(
                Resource.objects.filter(
                    account=account, scope=scope, removed_at__isnull=True
                ).values_list("pk", flat=True)
            )
            statuses = dict(
                Finding.objects.filter(account=account, resource_type=type_).values_list(
                    "pk", "status"
                )
            )
            refs = set(
                IpReference.objects.filter(account=account, resource__scope=scope).values_list(
                    "key", flat=True
                )
            )
            observed = set(
                ObservedCidr.objects.filter(account=account).values_list(
                    "cidr", "classification", "annotation_id"
                )
            )
            fault = injector.add("access_denied", service="ec2", operation=partial_op)
            try:
                done = sync()
            finally:
                injector.remove(fault)
            counts["partial"] += 1
            assert done.status == Sync.Status.PARTIAL, (i, partial_op, done.error)
            assert fault.fired >= 1
            removed_there = ResourceChange.objects.filter(
                sync=done, kind="removed", resource__scope=scope
            ).count()
            resolved_there = FindingEvent.objects.filter(
                sync=done, kind="resolved", finding__resource_type=type_
            ).count()
            still = set(
                Resource.objects.filter(
                    account=account, scope=scope, removed_at__isnull=True
                ).values_list("pk", flat=True)
            )
            after = dict(Finding.objects.filter(pk__in=statuses).values_list("pk", "status"))
            assert removed_there == 0
            assert resolved_there == 0
            assert len(current - still) == 0
            assert after == statuses  # nothing in the failed scope moved
            refs_after = set(
                IpReference.objects.filter(account=account, resource__scope=scope).values_list(
                    "key", flat=True
                )
            )
            assert refs_after == refs  # 0 addresses of the failed scope lost or added
            if type_ == SG_TYPE:
                assert (
                    set(
                        ObservedCidr.objects.filter(account=account).values_list(
                            "cidr", "classification", "annotation_id"
                        )
                    )
                    == observed
                )
            checked_in_partial += 1

    syncs = Sync.objects.filter(account=account)
    assert syncs.count() == SYNCS + 1
    assert syncs.filter(status="partial").count() == counts["partial"] == checked_in_partial
    assert syncs.filter(status="complete").count() == SYNCS + 1 - counts["partial"]
    assert counts["partial"] > 0 and counts["recreated"] > 0 and counts["toggled"] > 0

    # Every word people wrote is still there, byte-identical.
    events_after, comments_after = _human()
    assert events_after == events_before
    assert comments_after == comments_before
    assert FindingEvent.objects.filter(actor__isnull=False).count() == 6
    assert Comment.objects.count() == 2
    assert _ip_knowledge() == ip_knowledge_before
    assert answers_checked > 0

    # The SSH finding came back (same fingerprint) as often as it left, keeping
    # its assignee, its comment and its history.
    ssh.refresh_from_db()
    assert Finding.objects.filter(fingerprint=ssh.fingerprint).count() == 1
    assert ssh.assignee == bob
    kinds = list(ssh.events.values_list("kind", flat=True))
    assert kinds[:4] == ["opened", "acknowledged", "assigned", "commented"]
    assert kinds.count("resolved") == kinds.count("regressed") + (0 if ssh_open else 1)

    accepted.refresh_from_db()
    assert accepted.status == Finding.Status.ACCEPTED
    assert accepted.reason == reason
    churned.refresh_from_db()
    assert churned.assignee == alice
    assert churned.comments.count() == 1
    print(counts, "findings", Finding.objects.count(), "IP answers checked", answers_checked)
