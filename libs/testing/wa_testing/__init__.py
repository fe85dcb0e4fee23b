"""Test code only (never in a service image): `plugin` is the pytest plugin every suite loads
(`-p wa_testing.plugin`), `fakes` Meta's Graph API and the LLM as real HTTP servers, `servers`
private Postgres/RabbitMQ, `platform` all five services as processes."""
