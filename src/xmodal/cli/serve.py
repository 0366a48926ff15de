"""`xmodal serve`: the REST API and web page over one index (mounted by `xmodal.cli`).

    xmodal serve --index my-index                         # http://127.0.0.1:8000/  (docs: /docs)
    xmodal serve --index my-index --host 0.0.0.0 --api-key-file key.txt --read-key-file read.txt \
        --allowed-host search.example.org
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from xmodal.cli.index_uri import index_option, missing_index


def serve(
    index: str = index_option(),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; anything but loopback needs a key."),
    port: int = typer.Option(8000, help="Port (0: any free port)."),
    api_key_file: Optional[Path] = typer.Option(None, help="File holding the key for writes (else $XMODAL_API_KEY; none: writes off)."),
    read_key_file: Optional[Path] = typer.Option(None, help="File holding a key for reads (else $XMODAL_READ_KEY; none: reads open)."),
    allowed_host: list[str] = typer.Option([], "--allowed-host", help="Host names clients use (Host header), besides loopback. Repeatable."),
    cors_origin: list[str] = typer.Option([], "--cors-origin", help="Origins allowed to call the API from a browser. Repeatable; none: CORS off."),
    max_upload_mb: int = typer.Option(64, help="Largest request body (uploads), refused before it is stored."),
    max_encodes: int = typer.Option(2, help="Queries encoded at once; more wait, and past --max-waiting get 429."),
    max_waiting: int = typer.Option(64, help="Queries that may wait for an encode slot."),
    llm_backend: str = typer.Option("llamacpp", help="What /v1/ask uses: llamacpp, openai, transformers-vlm."),
    llm_model: Optional[str] = typer.Option(None, help="The backend's model (see xmodal ask --model)."),
    llm_base_url: Optional[str] = typer.Option(None, help="openai backend: the endpoint."),
    work_dir: Optional[Path] = typer.Option(None, help="Thumbnail cache and temp files (default: xmodal's cache)."),
    warm: bool = typer.Option(True, "--warm/--no-warm", help="Load the text encoder before listening."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log a line per request (method, path, status)."),
) -> None:
    """Serve an index: REST API under /v1, a search page at /, API docs at /docs."""
    err = Console(stderr=True)

    def fail(msg: str) -> None:
        err.print(f"[bold red]error:[/] {msg}")
        raise typer.Exit(1)

    try:
        import uvicorn

        from xmodal.serve import Settings, create_app
        from xmodal.serve.settings import LOOPBACK, MiB, check_bind, read_key
    except ImportError as exc:
        fail(f"xmodal serve needs the serve extra: pip install 'xmodal[serve]' ({exc.name} missing)")
    from xmodal.engine import Index
    from xmodal.errors import XModalError

    problem = missing_index(index)
    if problem:
        fail(problem)
    try:
        hosts = [*LOOPBACK, *([host] if host not in ("0.0.0.0", "::") else []), *allowed_host]
        settings = Settings(
            api_key=read_key(api_key_file, "XMODAL_API_KEY"), read_key=read_key(read_key_file, "XMODAL_READ_KEY"),
            max_upload_bytes=max_upload_mb * MiB, max_encodes=max_encodes, max_waiting=max_waiting,
            allowed_hosts=tuple(dict.fromkeys(hosts)), cors_origins=tuple(cors_origin), work_dir=work_dir,
            llm_backend=llm_backend, llm_model=llm_model, llm_base_url=llm_base_url,
        )
        check_bind(host, settings)
        idx = Index(index)
        app = create_app(idx, settings)
        if warm:
            err.print("loading the text encoder…")
            app.state.service.warm_up()
    except XModalError as exc:
        fail(str(exc))
    if host in ("0.0.0.0", "::") and not allowed_host:
        err.print("[yellow]note:[/] only loopback Host headers are accepted; add --allowed-host NAME for the name clients use")
    shown = f"[{host}]" if ":" in host else host
    where = f"http://{shown}:{port}/" if port else "a free port (uvicorn names it below)"
    err.print(f"serving [bold]{index}[/] on {where}  (API docs: /docs; writes "
              f"{'need the api key' if settings.api_key else 'off'}; reads {'need a key' if settings.read_key else 'open'})")
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log, server_header=False)
