"""occi-compute, occi-network, occi-storage, occi-instance-type: upstream's commands and options.

`occi-compute <COMMAND> [OPTIONS] [ARGUMENTS]` as upstream: options may come before or after the
command; `-U/--username`, `-P/--password`, `-R/--url`, `-T/--timeout`, `-D/--debug`, `--verbose`,
`--plain` keep their meaning, $ONE_AUTH and $OCCI_URL too. Answers are printed as indented XML and
errors as the server's message with exit status 255, as upstream's `exit -1`. Ours: `--sha1`,
`--accept xml|text|json` (the OGF renderings), attachnic/detachnic, persistent/publish and `upload`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TextIO
from xml.sax.saxutils import escape, quoteattr

import click

from one_drivers import xmlsafe
from one_drivers.occi_tools.client import ClientError, OcciClient, Response

ACCEPT = {"xml": "application/xml", "text": "text/plain", "json": "application/occi+json"}
FAILED = 255


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(FAILED)


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("-U", "--username", default=None, help="The username of the user"),
        click.option("-P", "--password", default=None, help="The password of the user"),
        click.option("-R", "--url", default=None, help="The OCCI service URL (default $OCCI_URL)"),
        click.option("-T", "--timeout", type=float, default=None, help="Timeout for the HTTP connection"),
        click.option("-D", "--debug", is_flag=True, help="Enables verbosity"),
        click.option("--verbose", is_flag=True, help="Show resources in verbose mode"),
        click.option("--plain", is_flag=True, help="The password provided will not be hashed"),
        click.option("--sha1", is_flag=True, help="Send the SHA-1 hash (OpenNebula before 5.10)"),
        click.option(
            "--accept",
            type=click.Choice(sorted(ACCEPT)),
            default="xml",
            help="Rendering: upstream XML or OGF",
        ),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar on uploads"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def make_client(opts: dict[str, Any]) -> OcciClient:
    scheme = "plain" if opts["plain"] else "sha1" if opts["sha1"] else "sha256"
    try:
        return OcciClient(
            opts["url"],
            opts["username"],
            opts["password"],
            timeout=opts["timeout"],
            scheme=scheme,
            accept=ACCEPT[opts["accept"]],
            debug=opts["debug"],
        )
    except ClientError as exc:
        _fail(exc.message)


def show(response: Response, out: TextIO | None = None) -> None:
    """Indented XML (or JSON) as upstream's print_xml; other renderings as they came."""
    text = response.text
    if not text.strip():
        return
    if "xml" in response.content_type:
        try:
            text = xmlsafe.pretty(response.body)
        except Exception:
            pass
    elif "json" in response.content_type:
        text = json.dumps(json.loads(text), indent=2)
    click.echo(text.rstrip("\n"), file=out)


def _document(path: str, command: str) -> bytes:
    file = Path(path)
    if not file.is_file():
        _fail(f"{command}: missing OCCI-XML or file not found")
    return file.read_bytes()


def _resource_id(document: bytes) -> str:
    """The ID element of an OCCI document, as upstream's client found the resource to update."""
    try:
        root = xmlsafe.parse(document)
    except xmlsafe.XmlError as exc:
        _fail(f"The document is not XML: {exc}")
    found = root.findtext("ID")
    if not found:
        _fail("Cannot find RESOURCE ID")
    return found.strip()


def _need(args: tuple[str, ...], count: int, usage: str) -> None:
    if len(args) < count:
        _fail(f"missing parameter: {usage}")


def run(
    kind: str,
    command: str,
    args: tuple[str, ...],
    opts: dict[str, Any],
    extra: dict[str, Callable[[OcciClient, tuple[str, ...]], Response]],
) -> None:
    client = make_client(opts)
    name = command.lower()
    try:
        if name == "list":
            response = client.get(kind, verbose=opts["verbose"])
        elif name == "show":
            _need(args, 1, f"show <{kind} id>")
            response = client.get(kind, args[0])
        elif name == "create" and kind != "storage":
            _need(args, 1, "create <occi xml file>")
            response = client.post(kind, _document(args[0], "create"))
        elif name == "update":
            _need(args, 1, "update <occi xml file>")
            document = _document(args[0], "update")
            response = client.put(kind, _resource_id(document), document)
        elif name == "delete":
            _need(args, 1, f"delete <{kind} id>")
            response = client.delete(kind, args[0])
        elif name in extra:
            response = extra[name](client, args)
        else:
            _fail(f"Command {command} not valid.")
    except ClientError as exc:
        _fail(exc.message if exc.status == 0 else f"[{exc.status}] {exc.message}")
    show(response)


def _action(perform: str, params: str) -> bytes:
    return f"<ACTION><PERFORM>{perform}</PERFORM><PARAMS>{params}</PARAMS></ACTION>".encode()


def _compute_extra() -> dict[str, Callable[[OcciClient, tuple[str, ...]], Response]]:
    def attachdisk(client: OcciClient, args: tuple[str, ...]) -> Response:
        _need(args, 2, "attachdisk <compute id> <storage id>")
        href = f"{client.url}/storage/{args[1]}"
        return client.action("compute", args[0], _action("ATTACHDISK", f"<STORAGE href={quoteattr(href)}/>"))

    def detachdisk(client: OcciClient, args: tuple[str, ...]) -> Response:
        _need(args, 2, "detachdisk <compute id> <disk id>")
        return client.action("compute", args[0], _action("DETACHDISK", f"<DISK id={quoteattr(args[1])}/>"))

    def attachnic(client: OcciClient, args: tuple[str, ...]) -> Response:
        _need(args, 2, "attachnic <compute id> <network id> [ip]")
        params = f"<NETWORK href={quoteattr(f'{client.url}/network/{args[1]}')}/>"
        if len(args) > 2:
            params += f"<IP>{escape(args[2])}</IP>"
        return client.action("compute", args[0], _action("ATTACHNIC", params))

    def detachnic(client: OcciClient, args: tuple[str, ...]) -> Response:
        _need(args, 2, "detachnic <compute id> <nic id>")
        return client.action("compute", args[0], _action("DETACHNIC", f"<NIC id={quoteattr(args[1])}/>"))

    def state(wanted: str) -> Callable[[OcciClient, tuple[str, ...]], Response]:
        def change(client: OcciClient, args: tuple[str, ...]) -> Response:
            _need(args, 1, f"{wanted.lower()} <compute id>")
            document = f"<COMPUTE><ID>{escape(args[0])}</ID><STATE>{wanted}</STATE></COMPUTE>".encode()
            return client.put("compute", args[0], document)

        return change

    def saveas(client: OcciClient, args: tuple[str, ...]) -> Response:
        _need(args, 3, "saveas <compute id> <disk id> <image name>")
        document = (
            f"<COMPUTE><ID>{escape(args[0])}</ID><DISK id={quoteattr(args[1])}>"
            f"<SAVE_AS name={quoteattr(args[2])}/></DISK></COMPUTE>"
        ).encode()
        return client.put("compute", args[0], document)

    extra: dict[str, Callable[[OcciClient, tuple[str, ...]], Response]] = {
        "attachdisk": attachdisk,
        "detachdisk": detachdisk,
        "attachnic": attachnic,
        "detachnic": detachnic,
        "saveas": saveas,
    }
    for wanted in ("STOPPED", "SUSPENDED", "RESUME", "CANCEL", "SHUTDOWN", "REBOOT", "RESET", "POWEROFF"):
        extra[wanted.lower()] = state(wanted)
    extra["stop"], extra["suspend"], extra["resume"] = state("STOPPED"), state("SUSPENDED"), state("RESUME")
    return extra


class Progress:
    """A text progress bar on stderr: `[#####.....]  50%  5.0/10.0 MB`."""

    def __init__(self, total: int, enabled: bool, width: int = 30) -> None:
        self.total = max(total, 1)
        self.enabled = enabled
        self.width = width
        self.done = 0
        self.last = -1.0
        self.started = time.monotonic()

    def __call__(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.enabled and (now - self.last >= 0.2 or self.done >= self.total):
            self.last = now
            self.draw()

    def draw(self) -> None:
        share = min(self.done / self.total, 1.0)
        filled = int(share * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        mb = 1024 * 1024
        click.echo(
            f"\r[{bar}] {share:4.0%}  {self.done / mb:.1f}/{self.total / mb:.1f} MB", nl=False, err=True
        )

    def finish(self) -> None:
        if self.enabled:
            self.draw()
            click.echo("", err=True)


def _file_of(document: bytes) -> str | None:
    """Upstream's STORAGE documents name the image file in URL (file:///path or a path)."""
    try:
        root = xmlsafe.parse(document)
    except xmlsafe.XmlError as exc:
        _fail(f"The document is not XML: {exc}")
    url = (root.findtext("URL") or "").strip()
    if not url:
        return None
    if "://" in url:
        url = "/" + url.split("://", 1)[1].lstrip("/")
    return url


def _storage_extra(opts: dict[str, Any]) -> dict[str, Callable[[OcciClient, tuple[str, ...]], Response]]:
    def upload(client: OcciClient, document: bytes, path: str | None) -> Response:
        if path is None:
            return client.request("POST", "/storage", document, content_type="application/xml")
        if not Path(path).is_file():
            _fail(f"create: image file {path} not found")
        progress = Progress(Path(path).stat().st_size, not opts["quiet"])
        try:
            return client.upload_storage(document, path, progress)
        finally:
            progress.finish()

    def create(client: OcciClient, args: tuple[str, ...]) -> Response:
        _need(args, 1, "create <occi xml file>")
        document = _document(args[0], "create")
        return upload(client, document, _file_of(document))

    def upload_cmd(client: OcciClient, args: tuple[str, ...]) -> Response:
        _need(args, 2, "upload <occi xml file> <image file>")
        return upload(client, _document(args[0], "upload"), args[1])

    def clone(client: OcciClient, args: tuple[str, ...]) -> Response:
        _need(args, 2, "clone <storage id> <name>")
        return client.action("storage", args[0], _action("CLONE", f"<NAME>{escape(args[1])}</NAME>"))

    def flag(element: str, value: str) -> Callable[[OcciClient, tuple[str, ...]], Response]:
        def change(client: OcciClient, args: tuple[str, ...]) -> Response:
            _need(args, 1, "<storage id>")
            doc = f"<STORAGE><ID>{escape(args[0])}</ID><{element}>{value}</{element}></STORAGE>".encode()
            return client.put("storage", args[0], doc)

        return change

    return {
        "create": create,
        "upload": upload_cmd,
        "clone": clone,
        "persistent": flag("PERSISTENT", "YES"),
        "nonpersistent": flag("PERSISTENT", "NO"),
        "publish": flag("PUBLIC", "YES"),
        "unpublish": flag("PUBLIC", "NO"),
    }


def _network_extra() -> dict[str, Callable[[OcciClient, tuple[str, ...]], Response]]:
    def flag(value: str) -> Callable[[OcciClient, tuple[str, ...]], Response]:
        def change(client: OcciClient, args: tuple[str, ...]) -> Response:
            _need(args, 1, "<network id>")
            doc = f"<NETWORK><ID>{escape(args[0])}</ID><PUBLIC>{value}</PUBLIC></NETWORK>".encode()
            return client.put("network", args[0], doc)

        return change

    return {"publish": flag("YES"), "unpublish": flag("NO")}


_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


@click.command(context_settings=_SETTINGS)
@click.argument("command")
@click.argument("args", nargs=-1)
@common_options
def occi_compute(command: str, args: tuple[str, ...], **opts: Any) -> None:
    """Manages compute resources.

    \b
    create <occi xml file>       creates a compute described by the file
    list                         lists compute resources (--verbose: whole documents)
    show <compute id>            the compute's representation
    update <occi xml file>       PUT the file (STATE changes, DISK SAVE_AS)
    delete <compute id>          deletes the compute
    attachdisk <id> <storage id> / detachdisk <id> <disk id>
    attachnic <id> <network id> [ip] / detachnic <id> <nic id>
    stop|suspend|resume|shutdown|cancel|reboot|reset|poweroff <id>
    saveas <id> <disk id> <name>
    """
    run("compute", command, args, opts, _compute_extra())


@click.command(context_settings=_SETTINGS)
@click.argument("command")
@click.argument("args", nargs=-1)
@common_options
def occi_network(command: str, args: tuple[str, ...], **opts: Any) -> None:
    """Manages virtual networks.

    \b
    create <occi xml file> | list | show <network id> | update <occi xml file> | delete <network id>
    publish <network id> | unpublish <network id>
    """
    run("network", command, args, opts, _network_extra())


@click.command(context_settings=_SETTINGS)
@click.argument("command")
@click.argument("args", nargs=-1)
@common_options
@click.option(
    "-M", "--multipart", is_flag=True, help="Accepted for upstream's scripts; uploads are always multipart"
)
def occi_storage(command: str, args: tuple[str, ...], multipart: bool, **opts: Any) -> None:
    """Manages OCCI storage resources.

    \b
    create <occi xml file>       the image file is the document's URL (uploaded with a progress bar)
    upload <occi xml file> <image file>
    list | show <storage id> | update <occi xml file> | delete <storage id>
    clone <storage id> <name>
    persistent|nonpersistent|publish|unpublish <storage id>
    """
    run("storage", command, args, opts, _storage_extra(opts))


@click.command(context_settings=_SETTINGS)
@click.argument("command")
@click.argument("args", nargs=-1)
@common_options
def occi_instance_type(command: str, args: tuple[str, ...], **opts: Any) -> None:
    """Retrieve instance types: list | show <name>."""
    if command.lower() not in ("list", "show"):
        _fail(f"Command {command} not valid.")
    run("instance_type", command, args, opts, {})
