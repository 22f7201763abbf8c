"""Key pairs through boto3 against econe on the simulator; fingerprints checked against OpenSSH/OpenSSL.

The expected fingerprints of the fixed keys below were printed by `openssl pkey -pubin -outform DER |
openssl md5 -c` and `ssh-keygen -l -E sha256`, not by our code; created keys are checked by running
`openssl`/`ssh-keygen` on the returned private key when those tools are installed.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.econe.actions.seed import Seed, seed
from tests.econe.conftest import EconeEnv

RSA_OPENSSH = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDphjh7IvZaWJ/CHEbstPZH9M/RU3J93LOLfLK4cVfaa6g4F0m+hNxxlgC3WXxEb6bCClEXP"
    "48lu6zIpc6sAUWJynwZVMsrwn2NQYnU8N1xxEHoN7ee4ZESRKQtujeCWrBawjLOwC/qYmdGcAkjuYbQLCcTmUmmyY9F4GP9As5jBHBUyWfvlw5"
    "+kWGFTqumyZBUgd4AN4+PF/f0NosBYZ7pF81kX2xdmuVPJJKoYM1yY1kdxrx7PrX9O8c54QccXCcDzOLatioeFDWAyjQvzGAWiVqU6n2RtsX9g"
    "pydn26D+5mwL41i5I3JBibodC9CbrEEMB1kCsRf/gWM3eaET5iV vector@test"
)
RSA_RFC4716 = """---- BEGIN SSH2 PUBLIC KEY ----
Comment: "2048-bit RSA, converted by root@vm from \\
OpenSSH"
AAAAB3NzaC1yc2EAAAADAQABAAABAQDphjh7IvZaWJ/CHEbstPZH9M/RU3J93LOLfLK4cV
faa6g4F0m+hNxxlgC3WXxEb6bCClEXP48lu6zIpc6sAUWJynwZVMsrwn2NQYnU8N1xxEHo
N7ee4ZESRKQtujeCWrBawjLOwC/qYmdGcAkjuYbQLCcTmUmmyY9F4GP9As5jBHBUyWfvlw
5+kWGFTqumyZBUgd4AN4+PF/f0NosBYZ7pF81kX2xdmuVPJJKoYM1yY1kdxrx7PrX9O8c5
4QccXCcDzOLatioeFDWAyjQvzGAWiVqU6n2RtsX9gpydn26D+5mwL41i5I3JBibodC9Cbr
EEMB1kCsRf/gWM3eaET5iV
---- END SSH2 PUBLIC KEY ----
"""
RSA_PEM = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA6YY4eyL2WlifwhxG7LT2
R/TP0VNyfdyzi3yyuHFX2muoOBdJvoTccZYAt1l8RG+mwgpRFz+PJbusyKXOrAFF
icp8GVTLK8J9jUGJ1PDdccRB6De3nuGREkSkLbo3glqwWsIyzsAv6mJnRnAJI7mG
0CwnE5lJpsmPReBj/QLOYwRwVMln75cOfpFhhU6rpsmQVIHeADePjxf39DaLAWGe
6RfNZF9sXZrlTySSqGDNcmNZHca8ez61/TvHOeEHHFwnA8zi2rYqHhQ1gMo0L8xg
FolalOp9kbbF/YKcnZ9ug/uZsC+NYuSNyQYm6HQvQm6xBDAdZArEX/4FjN3mhE+Y
lQIDAQAB
-----END PUBLIC KEY-----
"""
# ssh-keygen -e -m PKCS8 -f key.pub | openssl pkey -pubin -outform DER | openssl md5 -c
RSA_IMPORT_FINGERPRINT = "b2:74:b1:fc:ed:99:c9:7e:ba:40:21:60:f9:ac:41:88"
ED25519_OPENSSH = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII0QBAK5H+HKRr0y9qB1xkA5BFgSzgU7xTjVPJpjvKiZ vector@test"
)
# ssh-keygen -l -E sha256: SHA256:+aEb/fdYFikgMGsrIlP2Xef8anNaTrqpeSF1+1Oflbo (EC2 keeps base64's padding)
ED25519_FINGERPRINT = "+aEb/fdYFikgMGsrIlP2Xef8anNaTrqpeSF1+1Oflbo="


@pytest.fixture
def seeded(econe_env: EconeEnv) -> tuple[EconeEnv, Seed]:
    return econe_env, seed(econe_env)


def code_of(fn: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as err:
        fn(**kwargs)
    return str(err.value.response["Error"]["Code"])


def stored_pairs(env: EconeEnv, user: str) -> dict[str, Any]:
    encoded = env.oneadmin.user_info(env.user(user).user_id).template.get("EC2_KEYPAIRS") or ""
    return dict(json.loads(base64.b64decode(encoded))) if encoded else {}


@pytest.mark.parametrize(
    ("material", "fingerprint", "kind"),
    [
        (RSA_OPENSSH, RSA_IMPORT_FINGERPRINT, "rsa"),
        (RSA_RFC4716, RSA_IMPORT_FINGERPRINT, "rsa"),
        (RSA_PEM, RSA_IMPORT_FINGERPRINT, "rsa"),
        (ED25519_OPENSSH, ED25519_FINGERPRINT, "ed25519"),
    ],
    ids=["rsa-openssh", "rsa-rfc4716", "rsa-pem", "ed25519"],
)
def test_import_fingerprints_match_openssl_and_ssh_keygen(
    econe_env: EconeEnv, material: str, fingerprint: str, kind: str
) -> None:
    ec2 = econe_env.client()
    imported = ec2.import_key_pair(KeyName="mine", PublicKeyMaterial=material.encode())
    assert imported["KeyFingerprint"] == fingerprint and imported["KeyPairId"].startswith("key-")
    (info,) = ec2.describe_key_pairs(IncludePublicKey=True)["KeyPairs"]
    assert info["KeyFingerprint"] == fingerprint and info["KeyType"] == kind
    assert info["KeyPairId"] == imported["KeyPairId"]
    # Stored in OpenSSH form whatever the input (what CONTEXT hands to the VM's authorized_keys).
    expected_line = (RSA_OPENSSH if kind == "rsa" else ED25519_OPENSSH).rsplit(" ", 1)[0]
    assert info["PublicKey"] == expected_line
    assert stored_pairs(econe_env, "alice")["mine"]["public_key"] == expected_line


def _tool_output(args: list[str], data: bytes) -> str:
    return subprocess.run(args, input=data, capture_output=True, check=True, timeout=30).stdout.decode()


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_created_rsa_fingerprint_is_sha1_of_pkcs8_as_openssl_computes(econe_env: EconeEnv) -> None:
    created = econe_env.client().create_key_pair(KeyName="made")
    pem = created["KeyMaterial"].encode()
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    der = subprocess.run(
        ["openssl", "pkcs8", "-topk8", "-nocrypt", "-outform", "DER"],
        input=pem,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    digest = _tool_output(["openssl", "sha1", "-c"], der).split("=")[-1].strip()
    assert created["KeyFingerprint"] == digest


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="needs the ssh-keygen command")
def test_created_ed25519_fingerprint_as_ssh_keygen_prints_it(econe_env: EconeEnv, tmp_path: Path) -> None:
    created = econe_env.client().create_key_pair(KeyName="ed", KeyType="ed25519")
    key_file = tmp_path / "ed"
    key_file.write_text(created["KeyMaterial"])
    key_file.chmod(0o600)
    line = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(key_file)],
        capture_output=True,
        check=True,
        text=True,
        timeout=30,
    ).stdout
    printed = line.split()[1].removeprefix("SHA256:")
    assert created["KeyFingerprint"] == printed + "="


def test_private_key_is_returned_once_and_never_stored(econe_env: EconeEnv) -> None:
    created = econe_env.client().create_key_pair(KeyName="once")
    stored = json.dumps(stored_pairs(econe_env, "alice"))
    body = created["KeyMaterial"].splitlines()[1]
    assert body not in stored and "PRIVATE" not in stored
    log = Path(econe_env.config.log_file)
    assert not log.exists() or body not in log.read_text()
    (info,) = econe_env.client().describe_key_pairs(KeyNames=["once"])["KeyPairs"]
    assert "KeyMaterial" not in info and info["KeyFingerprint"] == created["KeyFingerprint"]


def test_describe_delete_and_errors(econe_env: EconeEnv) -> None:
    ec2 = econe_env.client()
    ec2.import_key_pair(KeyName="a", PublicKeyMaterial=RSA_OPENSSH.encode())
    made = ec2.create_key_pair(KeyName="b", KeyType="ed25519")
    assert [p["KeyName"] for p in ec2.describe_key_pairs()["KeyPairs"]] == ["a", "b"]
    by_id = ec2.describe_key_pairs(KeyPairIds=[made["KeyPairId"]])["KeyPairs"]
    assert [p["KeyName"] for p in by_id] == ["b"]
    filtered = ec2.describe_key_pairs(Filters=[{"Name": "key-type", "Values": ["rsa"]}])["KeyPairs"]
    assert [p["KeyName"] for p in filtered] == ["a"]
    by_print = ec2.describe_key_pairs(Filters=[{"Name": "fingerprint", "Values": ["b2:74:*"]}])["KeyPairs"]
    assert [p["KeyName"] for p in by_print] == ["a"]

    assert code_of(ec2.describe_key_pairs, KeyNames=["zzz"]) == "InvalidKeyPair.NotFound"
    assert code_of(ec2.describe_key_pairs, KeyPairIds=["key-0123456789abcdef0"]) == "InvalidKeyPair.NotFound"
    assert code_of(ec2.create_key_pair, KeyName="a") == "InvalidKeyPair.Duplicate"
    assert code_of(ec2.import_key_pair, KeyName="b", PublicKeyMaterial=RSA_PEM.encode()) == (
        "InvalidKeyPair.Duplicate"
    )
    assert code_of(ec2.import_key_pair, KeyName="c", PublicKeyMaterial=b"ssh-rsa notbase64") == (
        "InvalidKeyPair.Format"
    )
    ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEm"
    assert (
        code_of(ec2.import_key_pair, KeyName="c", PublicKeyMaterial=ecdsa.encode()) == "InvalidKeyPair.Format"
    )
    assert code_of(ec2.create_key_pair, KeyName="c", KeyFormat="ppk") == "InvalidParameterValue"
    assert code_of(ec2.describe_key_pairs, Filters=[{"Name": "bogus", "Values": ["x"]}]) == (
        "InvalidParameterValue"
    )
    assert [p["KeyName"] for p in ec2.describe_key_pairs()["KeyPairs"]] == ["a", "b"]  # nothing changed

    # Another user's pair does not exist for bob, and bob's delete leaves it alone.
    bob = econe_env.client("bob")
    assert code_of(bob.describe_key_pairs, KeyNames=["a"]) == "InvalidKeyPair.NotFound"
    assert bob.delete_key_pair(KeyName="a")["Return"] is True
    assert bob.describe_key_pairs()["KeyPairs"] == []

    deleted = ec2.delete_key_pair(KeyName="a")
    assert deleted["Return"] is True
    assert ec2.delete_key_pair(KeyPairId=made["KeyPairId"])["KeyPairId"] == made["KeyPairId"]
    assert ec2.delete_key_pair(KeyName="a")["Return"] is True  # idempotent, as AWS
    assert ec2.describe_key_pairs()["KeyPairs"] == []


@pytest.mark.parametrize(
    "name",
    ['x" ]\nRAW = "evil', 'k\\"\nSCHED_REQUIREMENTS="ID=0', "k]]>", "evil\\", 'x", RAW="evil', 'a\\" b'],
)
def test_hostile_key_names_cannot_add_attributes(seeded: tuple[EconeEnv, Seed], name: str) -> None:
    env, s = seeded
    ec2 = env.client()
    try:
        ec2.import_key_pair(KeyName=name, PublicKeyMaterial=ED25519_OPENSSH.encode())
    except ClientError as exc:
        # Refused up front (control characters, a trailing backslash): nothing stored.
        assert exc.response["Error"]["Code"] == "InvalidParameterValue"
        assert stored_pairs(env, "alice") == {}
        return
    run = ec2.run_instances(ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1, KeyName=name)
    vm = env.oneadmin.vm_info(int(run["Instances"][0]["InstanceId"][2:]))
    context = vm.template.vectors("CONTEXT")[0]
    assert context["EC2_KEYNAME"] == name
    assert vm.template.get("RAW") is None and vm.user_template.get("RAW") is None
    assert vm.user_template.get("SCHED_REQUIREMENTS") is None
    assert run["Instances"][0]["KeyName"] == name


def test_hostile_public_key_is_refused(econe_env: EconeEnv) -> None:
    ec2 = econe_env.client()
    evil = ED25519_OPENSSH + '"\nRAW="x'
    # The comment is dropped: only the key itself is stored, so nothing of the tail survives.
    ec2.import_key_pair(KeyName="k", PublicKeyMaterial=evil.encode())
    (info,) = ec2.describe_key_pairs(IncludePublicKey=True)["KeyPairs"]
    assert info["PublicKey"] == ED25519_OPENSSH.rsplit(" ", 1)[0]


def test_run_instances_puts_the_key_into_context(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    ec2 = env.client()
    ec2.import_key_pair(KeyName="k", PublicKeyMaterial=ED25519_OPENSSH.encode())
    run = ec2.run_instances(ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1, KeyName="k")
    vm = env.oneadmin.vm_info(int(run["Instances"][0]["InstanceId"][2:]))
    context = vm.template.vectors("CONTEXT")[0]
    line = ED25519_OPENSSH.rsplit(" ", 1)[0]
    assert context["SSH_PUBLIC_KEY"] == line and context["EC2_PUBLIC_KEY"] == line
    assert context["EC2_KEYNAME"] == "k"
    described = ec2.describe_instances(InstanceIds=[run["Instances"][0]["InstanceId"]])
    assert described["Reservations"][0]["Instances"][0]["KeyName"] == "k"


def test_upstream_entries_read_back(econe_env: EconeEnv) -> None:
    """A pair written by upstream econe ({fingerprint, public_key} only) is listed with a stable id."""
    from tests.econe.actions.seed import give_keypair

    give_keypair(econe_env, "alice", "old", RSA_OPENSSH)
    ec2 = econe_env.client()
    first = ec2.describe_key_pairs()["KeyPairs"]
    assert [(p["KeyName"], p["KeyFingerprint"], p["KeyType"]) for p in first] == [("old", "aa:bb", "rsa")]
    assert ec2.describe_key_pairs()["KeyPairs"][0]["KeyPairId"] == first[0]["KeyPairId"]
    assert ec2.delete_key_pair(KeyPairId=first[0]["KeyPairId"])["KeyPairId"] == first[0]["KeyPairId"]
    assert ec2.describe_key_pairs()["KeyPairs"] == []


def test_key_pair_tags(econe_env: EconeEnv) -> None:
    ec2 = econe_env.client()
    made = ec2.create_key_pair(
        KeyName="t",
        KeyType="ed25519",
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "web"}]}],
    )
    assert made["Tags"] == [{"Key": "team", "Value": "web"}]
    pair_id = made["KeyPairId"]
    ec2.create_tags(Resources=[pair_id], Tags=[{"Key": "Name", "Value": "deploy key"}])
    (info,) = ec2.describe_key_pairs(Filters=[{"Name": "tag:Name", "Values": ["deploy*"]}])["KeyPairs"]
    assert sorted((t["Key"], t["Value"]) for t in info["Tags"]) == [("Name", "deploy key"), ("team", "web")]
    described = ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["key-pair"]}])["Tags"]
    assert sorted((t["ResourceId"], t["Key"]) for t in described) == [(pair_id, "Name"), (pair_id, "team")]
    ec2.delete_tags(Resources=[pair_id], Tags=[{"Key": "team"}])
    (info,) = ec2.describe_key_pairs()["KeyPairs"]
    assert info["Tags"] == [{"Key": "Name", "Value": "deploy key"}]
    assert code_of(
        econe_env.client("bob").create_tags, Resources=[pair_id], Tags=[{"Key": "a", "Value": "b"}]
    ) == ("InvalidKeyPair.NotFound")
    assert code_of(
        ec2.create_key_pair,
        KeyName="u",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "b"}]}],
    ) == ("InvalidParameterValue")
    assert [p["KeyName"] for p in ec2.describe_key_pairs()["KeyPairs"]] == ["t"]
