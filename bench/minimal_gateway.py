"""The baseline the gateway is measured against: the least a correct webhook receiver does.

A FastAPI route that reads the raw body, checks Meta's HMAC on it, publishes it as one
persistent message with a publisher confirm, and answers 200. No splitting into events, no
validation, no metrics or logging: `bench/gateway_webhooks.py` runs it beside the real gateway
in the same run, and the real one should cost no more CPU per webhook than this does.

Run by the bench as `uvicorn --factory minimal_gateway:create_app` (bench/ on PYTHONPATH).
"""

import hashlib
import hmac
import os

import aio_pika
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def create_app() -> FastAPI:
    secret = os.environ["WHATSAPP_APP_SECRET"].encode()
    exchange_name = os.environ.get("BUS_PREFIX", "") + "minimal"
    app = FastAPI()
    state: dict[str, aio_pika.abc.AbstractExchange] = {}

    @app.on_event("startup")
    async def connect() -> None:
        connection = await aio_pika.connect(os.environ["AMQP_URL"])
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.FANOUT, auto_delete=True
        )
        # A queue that stores what is published, as the gateway's consumers' queues do.
        queue = await channel.declare_queue(
            f"{exchange_name}.sink", durable=True, arguments={"x-expires": 600_000}
        )
        await queue.bind(exchange)
        state["exchange"] = exchange
        app.state.connection = connection

    @app.on_event("shutdown")
    async def close() -> None:
        await app.state.connection.close()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/webhook/whatsapp")
    async def receive(request: Request) -> JSONResponse:
        raw = await request.body()
        given = request.headers.get("x-hub-signature-256", "").removeprefix("sha256=").encode()
        expected = hmac.new(secret, raw, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(given, expected):
            return JSONResponse({"detail": "bad signature"}, status_code=401)
        await state["exchange"].publish(
            aio_pika.Message(raw, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=""
        )
        return JSONResponse({"status": "ok"})

    return app
