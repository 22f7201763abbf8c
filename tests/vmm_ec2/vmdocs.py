"""VM documents for VMM tests, made from the recorded 6.10.5 deployment file and DEPLOY message."""

from __future__ import annotations

import re
from pathlib import Path

from one_drivers.mad.codec import encode_base64, format_request
from tests.mad.recorded import vmm_events

PUBLIC_CLOUD = (
    "<PUBLIC_CLOUD><TYPE><![CDATA[ec2]]></TYPE><AMI><![CDATA[ami-12c6146b]]></AMI>"
    "<INSTANCETYPE><![CDATA[t3.micro]]></INSTANCETYPE><TAGS><![CDATA[team=burst,env=test]]></TAGS>"
    "</PUBLIC_CLOUD>"
)


def recorded_deploy_data(real_dir: Path) -> str:
    """The decoded VMM_DRIVER_ACTION_DATA of the first recorded DEPLOY (VM 0, LCM BOOT)."""
    return next(e.decoded for e in vmm_events(real_dir) if e.line.startswith("DEPLOY  0 "))


def action_data(
    real_dir: Path,
    *,
    vm_id: int = 0,
    host: str = "ec2host",
    lcm: int = 2,
    state: int = 3,
    deploy_id: str = "",
    vm_deploy_id: str | None = None,
    seq: int = 0,
    section: str = PUBLIC_CLOUD,
) -> str:
    """The recorded DEPLOY data re-targeted: host, VM id, LCM state, ids, HISTORY SEQ, EC2 section."""
    xml = recorded_deploy_data(real_dir)
    xml = xml.replace("dummyhost", host)
    xml = re.sub(r"<HOST>[^<]*</HOST>", f"<HOST>{host}</HOST>", xml, count=1)
    xml = re.sub(r"<DEPLOY_ID/>", f"<DEPLOY_ID>{deploy_id}</DEPLOY_ID>", xml, count=1)
    xml = xml.replace("<VM><ID>0</ID>", f"<VM><ID>{vm_id}</ID>", 1)
    xml = re.sub(
        r"<STATE>3</STATE><LCM_STATE>2</LCM_STATE>",
        f"<STATE>{state}</STATE><LCM_STATE>{lcm}</LCM_STATE>",
        xml,
    )
    xml = xml.replace(
        "<DEPLOY_ID></DEPLOY_ID><MONITORING>",
        f"<DEPLOY_ID>{deploy_id if vm_deploy_id is None else vm_deploy_id}</DEPLOY_ID><MONITORING>",
    )
    xml = xml.replace("<SEQ>0</SEQ>", f"<SEQ>{seq}</SEQ>")
    xml = xml.replace("<USER_TEMPLATE>", "<USER_TEMPLATE>" + section, 1)
    return xml


def request_line(action: str, vm_id: int, xml: str) -> str:
    return format_request(action, vm_id, encode_base64(xml))
