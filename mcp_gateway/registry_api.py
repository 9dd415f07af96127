"""The HTTP API nodes use to join the gateway (mounted at /nodes; docs/node-gateway-contract.md).

POST /nodes/register (NodeInfo) -> 200 RegistrationAccepted
POST /nodes/heartbeat (Heartbeat) -> 200 RegistrationAccepted | 404 unknown node (re-register)
DELETE /nodes/{name} -> 204
GET /nodes/jwks -> 200 the gateway's public identity keys (JWKS; no token: public keys only)
All but the JWKS need ``Authorization: Bearer <node token>`` (a token with the "node" scope whose
user is the node name); a node may claim only the namespaces its token grants (403 otherwise).
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from mcp_gateway.auth import Authenticator
from mcp_gateway.errors import AccessDenied, AuthError, GatewayError, UnknownNode
from mcp_gateway.registry import Registry
from mcp_nodes.contract.registration import Heartbeat, NodeInfo


def _error(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="controlroom"'} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def registry_routes(registry: Registry, authenticator: Authenticator) -> Router:
    """A Starlette router with the three registry endpoints."""

    async def guarded(request: Request, model: type[BaseModel] | None, action) -> Response:  # type: ignore[no-untyped-def]
        try:
            principal = await authenticator.principal(request.headers.get("authorization"))
            payload = model.model_validate_json(await request.body()) if model is not None else None
            return await action(principal, payload)
        except AuthError as error:
            return _error(401, str(error))
        except AccessDenied as error:
            return _error(403, str(error))
        except UnknownNode as error:
            return _error(404, str(error))
        except ValidationError as error:
            fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            return _error(422, f"invalid {model.__name__ if model else 'body'}: {fields}")
        except GatewayError as error:
            return _error(400, str(error))

    async def register(request: Request) -> Response:
        async def act(principal, info: NodeInfo) -> Response:  # type: ignore[no-untyped-def]
            return JSONResponse((await registry.register(info, principal)).model_dump())
        return await guarded(request, NodeInfo, act)

    async def heartbeat(request: Request) -> Response:
        async def act(principal, beat: Heartbeat) -> Response:  # type: ignore[no-untyped-def]
            return JSONResponse((await registry.heartbeat(beat, principal)).model_dump())
        return await guarded(request, Heartbeat, act)

    async def deregister(request: Request) -> Response:
        async def act(principal, _: None) -> Response:  # type: ignore[no-untyped-def]
            await registry.deregister(request.path_params["name"], principal)
            return Response(status_code=204)
        return await guarded(request, None, act)

    async def jwks(_: Request) -> Response:
        return JSONResponse(await registry.current_jwks(), headers={"Cache-Control": "no-cache"})

    return Router(routes=[
        Route("/jwks", jwks, methods=["GET"]),
        Route("/register", register, methods=["POST"]),
        Route("/heartbeat", heartbeat, methods=["POST"]),
        Route("/{name}", deregister, methods=["DELETE"]),
    ])
