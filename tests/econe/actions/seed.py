"""Objects the action tests need in the simulator, made through its real XML-RPC API."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from one_drivers.econe.context import RequestContext
from one_drivers.one.gateway import OneGateway
from one_drivers.one.template import build_template
from tests.econe.conftest import EconeEnv

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtest alice@example"


@dataclass(frozen=True)
class Seed:
    ami: int  # image flagged EC2_AMI="YES", oneadmin's, usable by everyone
    plain_image: int  # an image that is not an AMI, usable by everyone
    private_ami: int  # an AMI of oneadmin's that no user may use
    small: int  # template EC2_INSTANCE_TYPE = m1.small (alice's)
    host: int


def ctx_for(
    env: EconeEnv, user: str = "alice", one: OneGateway | None = None, **config: Any
) -> RequestContext:
    from dataclasses import replace

    u = env.user(user)
    return RequestContext(
        request_id="test-req",
        action="Test",
        user=u.name,
        user_id=u.user_id,
        one=one or u.one,
        admin=env.oneadmin,
        config=replace(env.config, **config) if config else env.config,
    )


def oneadmin_ctx(env: EconeEnv) -> RequestContext:
    """A context acting as oneadmin (who may manage the seeded images)."""
    from dataclasses import replace

    return replace(ctx_for(env), user="oneadmin", user_id=0, one=env.oneadmin)


def allocate_template(one: OneGateway, attrs: list[tuple[str, Any]]) -> int:
    return int(one.call("one.template.allocate", build_template(attrs)))


def seed(env: EconeEnv) -> Seed:
    alice = env.alice.one
    host = int(env.oneadmin.call("one.host.allocate", "host1", "dummy", "dummy", -1))
    # Images belong to oneadmin: the simulator has no ACL letting the users group use datastore 1.
    admin = env.oneadmin
    ami = admin.image_allocate(
        build_template([("NAME", "ubuntu"), ("PATH", "/var/tmp/ubuntu.img"), ("EC2_AMI", "YES")]), 1
    )
    plain = admin.image_allocate(build_template([("NAME", "data"), ("TYPE", "DATABLOCK"), ("SIZE", "10")]), 1)
    private = admin.image_allocate(
        build_template([("NAME", "private"), ("PATH", "/var/tmp/p.img"), ("EC2_AMI", "YES")]), 1
    )
    for image_id in (ami, plain):
        share_image(env, image_id)
    small = allocate_template(
        alice,
        [
            ("NAME", "small"),
            ("CPU", "0.5"),
            ("VCPU", "2"),
            ("MEMORY", "512"),
            ("EC2_INSTANCE_TYPE", "m1.small"),
            ("DISK", {"TYPE": "fs", "SIZE": "64"}),
            ("CONTEXT", {"NETWORK": "YES", "FROM_TEMPLATE": "kept"}),
        ],
    )
    return Seed(ami=ami, plain_image=plain, private_ami=private, small=small, host=host)


def share_image(env: EconeEnv, image_id: int) -> None:
    """chmod 604: every user may USE the image."""
    env.oneadmin.call("one.image.chmod", image_id, -1, -1, -1, -1, -1, -1, 1, -1, -1)


def give_keypair(env: EconeEnv, user: str, name: str, public_key: str = PUBLIC_KEY) -> None:
    pairs = {name: {"fingerprint": "aa:bb", "public_key": public_key}}
    encoded = base64.b64encode(json.dumps(pairs).encode()).decode()
    env.oneadmin.user_update(env.user(user).user_id, build_template([("EC2_KEYPAIRS", encoded)]), append=True)


def vm_count(env: EconeEnv) -> int:

    return len(env.oneadmin.vmpool_info(-2, -1, -1, -2))


def error_code(fn: Any, **kwargs: Any) -> str:
    """The EC2 error code a boto3 call fails with (and that it travels as a 4xx)."""
    from botocore.exceptions import ClientError

    try:
        fn(**kwargs)
    except ClientError as err:
        assert 400 <= err.response["ResponseMetadata"]["HTTPStatusCode"] < 500
        return str(err.response["Error"]["Code"])
    raise AssertionError(f"{fn.__name__} succeeded")
