"""The /v1 endpoints: thin async handlers that check auth and bounds, then run the blocking work
(`Service`) on worker threads through a `Gate` (429 when too much is in flight).

No `from __future__ import annotations` here: FastAPI reads the annotations, and several name
bounds built from the settings inside `make_router`."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from .limits import Gate, gates
from .security import SANDBOX_CSP, SESSION_COOKIE, bearer, require_read, require_write
from .service import MAX_ID_CHARS, Service, valid_id
from .settings import Settings

Modality = Literal["text", "image", "audio", "video", "document"]
Rerank = Literal["none", "attention", "llm"]


class SearchResponse(BaseModel):
    results: list[dict[str, Any]] = Field(description="id, modality, score, scores (per stage), name, text, segment "
                                          "(where it matched), where, meta, media_url, thumbnail_url")
    next_offset: int | None = Field(description="offset of the next page, or null when this is the last")
    took_ms: float = Field(description="time the server spent on the search (upload spooling and query included)")


class JobRef(BaseModel):
    job_id: str
    status_url: str


class TextItem(BaseModel):
    id: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="item id; no '/' or control characters")
    text: str = Field(min_length=1)
    meta: dict[str, Any] = Field(default_factory=dict)


class AddTexts(BaseModel):
    texts: list[TextItem] = Field(min_length=1, max_length=10_000)


def _service(request: Request) -> Service:
    return request.app.state.service


def _gate(request: Request, name: str) -> Gate:
    """A gate of this app, made on first use inside the running loop (anyio limiters bind to it)."""
    state = request.app.state
    if getattr(state, "gates", None) is None:
        s = state.settings
        state.gates = gates(s.max_encodes, s.max_waiting, s.max_asks)
    return state.gates[name]


def _prefix(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def make_router(settings: Settings) -> APIRouter:
    s = settings
    read = [Depends(require_read)]
    write = [Depends(require_write)]
    K = Annotated[int, Query(ge=1, le=s.max_k, description=f"results per page (at most {s.max_k})")]
    Offset = Annotated[int, Query(ge=0, le=s.max_offset, description="results to skip (pagination)")]
    Mods = Annotated[list[Modality] | None, Query(alias="modality", description="only these modalities (repeat)")]
    Where = Annotated[str | None, Query(max_length=s.max_query_chars, description="filter over item columns, e.g. duration < 10")]
    MinScore = Annotated[float | None, Query(description="drop results scoring below this")]
    Q = Annotated[str | None, Query(max_length=s.max_query_chars, description="text query")]

    r = APIRouter(prefix="/v1")

    @r.get("/health", tags=["server"])
    def health(request: Request) -> dict[str, Any]:
        """Liveness: {"status": "ok", ...} and whether reads / writes need a key."""
        return _service(request).health()

    @r.post("/session", tags=["server"], status_code=204)
    def session(request: Request, response: Response) -> Response:
        """Trade a key (Authorization: Bearer) for a read-only session cookie, for the web page's
        <img> and <audio> requests, which cannot send the header."""
        keys = request.app.state.keys
        token = bearer(request)
        if token is None:
            raise HTTPException(401, "send Authorization: Bearer KEY", headers={"WWW-Authenticate": "Bearer"})
        if keys.role_of(token) is None:
            raise HTTPException(403, "wrong key")
        response.set_cookie(SESSION_COOKIE, keys.open_session(), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        response.status_code = 204
        return response

    @r.get("/stats", tags=["server"], dependencies=read)
    async def stats(request: Request) -> dict[str, Any]:
        """Items per modality, the profile and encoders that built the index."""
        return await _gate(request, "read").run(_service(request).stats)

    @r.get("/search", response_model=SearchResponse, tags=["search"], dependencies=read)
    async def search(request: Request, q: Q = None, k: K = 10, offset: Offset = 0, modality: Mods = None,
                     where: Where = None, min_score: MinScore = None, rerank: Rerank = "none",
                     hybrid: bool = True) -> dict[str, Any]:
        """Search by text. `rerank` reorders the top with the attention or LLM reranker."""
        svc = _service(request)
        return await _gate(request, "search").run(lambda: svc.search(
            text=q, k=k, offset=offset, modalities=modality, where=where, min_score=min_score, rerank=rerank,
            hybrid=hybrid, prefix=_prefix(request)))

    @r.post("/search", response_model=SearchResponse, tags=["search"], dependencies=read)
    async def search_file(request: Request, file: Annotated[UploadFile | None, File(description="query by example: image, sound, clip, PDF, text")] = None,
                          q: Annotated[str | None, Form(max_length=s.max_query_chars)] = None, k: K = 10,
                          offset: Offset = 0, modality: Mods = None, where: Where = None, min_score: MinScore = None,
                          rerank: Rerank = "none", hybrid: bool = True) -> dict[str, Any]:
        """Search by an uploaded file, text, or both (a mixed query). Multipart: `file`, `q`;
        the other parameters as in GET."""
        svc = _service(request)
        return await _gate(request, "search").run(lambda: svc.search(
            text=q, upload=file.file if file else None, upload_name=file.filename if file else None, k=k,
            offset=offset, modalities=modality, where=where, min_score=min_score, rerank=rerank, hybrid=hybrid,
            prefix=_prefix(request)))

    @r.get("/items/{item_id}", tags=["items"], dependencies=read)
    async def item(request: Request, item_id: str) -> dict[str, Any]:
        """One item: metadata, extracted text, segments, and its media / thumbnail URLs."""
        return await _gate(request, "read").run(_service(request).item, item_id, _prefix(request))

    @r.get("/items/{item_id}/similar", response_model=SearchResponse, tags=["search"], dependencies=read)
    async def similar(request: Request, item_id: str, k: K = 10, offset: Offset = 0, modality: Mods = None,
                      where: Where = None, min_score: MinScore = None) -> dict[str, Any]:
        """More like this: the items nearest to a stored item's own vector (itself left out)."""
        svc = _service(request)
        return await _gate(request, "search").run(lambda: svc.similar(
            item_id, k=k, offset=offset, modalities=modality, where=where, min_score=min_score, prefix=_prefix(request)))

    @r.get("/items/{item_id}/media", tags=["items"], dependencies=read,
           responses={200: {"description": "the file"}, 206: {"description": "a byte range of it"}})
    async def media(request: Request, item_id: str) -> FileResponse:
        """The item's file, by id only, with HTTP Range support (audio and video seek).
        SVG and HTML come as sandboxed attachments."""
        path, mime, attachment = await _gate(request, "read").run(_service(request).media, item_id)
        headers = {"Cache-Control": "private, max-age=3600"}
        if attachment:
            headers["Content-Security-Policy"] = SANDBOX_CSP
        return FileResponse(path, media_type=mime, headers=headers, filename=path.name,
                            content_disposition_type="attachment" if attachment else "inline")

    @r.get("/items/{item_id}/thumbnail", tags=["items"], dependencies=read,
           responses={200: {"content": {"image/jpeg": {}}}})
    async def thumbnail(request: Request, item_id: str,
                        t: Annotated[float | None, Query(ge=0, le=1e6, description="video: seconds into the clip")] = None,
                        page: Annotated[int | None, Query(ge=1, le=100_000, description="document: 1-based page")] = None) -> FileResponse:
        """A JPEG thumbnail of an image, a video frame (at `t`) or a PDF page, made once and cached."""
        path = await _gate(request, "thumbnail").run(_service(request).thumbnail, item_id, t, page)
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})

    @r.get("/ask/schema", tags=["ask"])
    def ask_schema() -> dict[str, Any]:
        """The JSON schema of what POST /v1/ask returns (xmodal ask --schema)."""
        from xmodal.refine import RefinedAnswer

        return RefinedAnswer.model_json_schema()

    class AskBody(BaseModel):
        question: str = Field(min_length=1, max_length=s.max_query_chars)
        k: int = Field(10, ge=1, le=min(s.max_k, 50))
        modality: list[Modality] | None = None
        rerank: Rerank = "none"
        refiner: Literal["llm", "none"] = "llm"
        mode: Literal["auto", "pointwise", "json"] = "auto"
        time_budget_s: float | None = Field(None, gt=0, le=s.ask_time_budget_s)
        augment: bool = Field(False, description="run OCR / speech recognition on results lacking text (slower)")

    @r.post("/ask", tags=["ask"], dependencies=read)
    async def ask(request: Request, body: AskBody) -> dict[str, Any]:
        """Retrieve → rerank → refine: an LLM keeps or drops each result with a reason and answers
        citing the kept ones as [n]. Returns the schema of GET /v1/ask/schema."""
        svc = _service(request)
        return await _gate(request, "ask").run(lambda: svc.ask(
            question=body.question, k=body.k, modalities=body.modality, rerank=body.rerank, refiner=body.refiner,
            mode=body.mode, time_budget_s=body.time_budget_s, augment=body.augment, prefix=_prefix(request)))

    @r.post("/ask/file", tags=["ask"], dependencies=read)
    async def ask_file(request: Request, file: Annotated[UploadFile, File()],
                       question: Annotated[str | None, Form(max_length=s.max_query_chars)] = None,
                       k: Annotated[int, Form(ge=1, le=min(s.max_k, 50))] = 10, rerank: Annotated[Rerank, Form()] = "none",
                       refiner: Annotated[Literal["llm", "none"], Form()] = "llm") -> dict[str, Any]:
        """`ask` with an example file (and an optional question), as multipart."""
        svc = _service(request)
        return await _gate(request, "ask").run(lambda: svc.ask(
            question=question, upload=file.file, upload_name=file.filename, k=k, rerank=rerank, refiner=refiner,
            prefix=_prefix(request)))

    @r.post("/items", response_model=JobRef, status_code=202, tags=["write"], dependencies=write)
    async def add_items(request: Request) -> dict[str, str]:
        """Add files (multipart, one or more `file` parts) or texts (JSON {"texts": [{"id", "text",
        "meta"}]}). Returns a job id; poll GET /v1/jobs/{job_id} for progress and the new ids."""
        svc = _service(request)
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            async with request.form(max_files=1000, max_fields=100) as form:
                uploads = [f for f in form.getlist("file") if not isinstance(f, str)]
                if not uploads:
                    raise HTTPException(400, "no `file` parts in the upload")
                stored = [await _gate(request, "read").run(svc.store_upload, f.file, f.filename) for f in uploads]
            job = svc.add_files(stored)
        elif ctype.startswith("application/json"):
            try:
                body = AddTexts.model_validate_json(await request.body())
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None
            bad = [t.id for t in body.texts if "/" in t.id or not valid_id(t.id)]
            if bad:
                raise HTTPException(400, f"invalid ids (no '/', no control characters): {bad[:5]}")
            job = svc.add_texts([(t.id, t.text, t.meta) for t in body.texts])
        else:
            raise HTTPException(415, "send multipart/form-data files or application/json texts")
        return {"job_id": job.id, "status_url": f"{_prefix(request)}/v1/jobs/{job.id}"}

    @r.get("/jobs/{job_id}", tags=["write"], dependencies=write)
    def job(request: Request, job_id: str) -> dict[str, Any]:
        """A write job: status (queued, running, done, failed), progress, per-item outcome."""
        found = _service(request).jobs.get(job_id)
        if found is None:
            raise HTTPException(404, "no such job")
        return found.to_dict()

    @r.delete("/items/{item_id}", response_model=JobRef, status_code=202, tags=["write"], dependencies=write)
    async def delete_item(request: Request, item_id: str) -> dict[str, str]:
        """Remove an item (and the file, if it was uploaded through this API), as a job."""
        job = await _gate(request, "read").run(_service(request).delete, item_id)
        return {"job_id": job.id, "status_url": f"{_prefix(request)}/v1/jobs/{job.id}"}

    return r


def busy_response(exc) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after_s)})
