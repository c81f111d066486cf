"""Every setting of leadscore, read through one typed object: `settings()`.

Where a setting comes from (each field below says which, and the README's
Configuration table is printed from these fields by `leadscore config table`):

- **template**: an environment variable the template sets on a function from
  its own resources (`QUEUE_URL`, `LEADS_TABLE`, ...);
- **parameter**: an environment variable the template sets from one of its
  Parameters (`RETENTION_DAYS` from `RetentionDays`, `MODEL_FILE` from
  `ModelFile`, ...): what `sam deploy --parameter-overrides` changes;
- **secret**: a key of the JSON secrets named in `SECRETS_ARN` (`API_TOKEN`,
  `WEBHOOK_SECRET_<SOURCE>`, `FIELD_MAP_<SOURCE>`, ...); an environment
  variable of the same name wins (locally and in tests there is no secret);
- **local**: environment variables only the local stack or a developer sets.

Locally `leadscore dev` sets the template and parameter ones from
template.yaml itself (parameters at their defaults; the shell's values win).

**Validated once per container.** `settings()` validates the environment
part on first use (a handler's `init()`, at cold start) and keeps it; what
is built from it (clients, the engine, the worker) is built once, by
`leadscore.dependencies`, and nowhere else. A missing or invalid value raises `ConfigError` naming the setting and where it
comes from, never quoting the value.

**Secrets are not frozen at cold start.** They are methods, not fields:
each call (`api_token()`, `webhook_secret(source)`, `field_map(source)`, ...)
looks the key up again, the environment first, then the secrets through
powertools parameters with a 5-minute cache (`adapters/secrets.py`), so a
rotated secret is used within 5 minutes by a warm container. A key is looked
up only when asked for (a function reads only the secrets it has permission
for), and a bad value fails only what reads it. What a key's value parses to
is validated by `SecretKeys` and remembered per distinct raw value, so a
warm call costs a cache look-up, not a parse.

**Tests and the local stack** call `reset()`: it forgets the settings and
the secrets' cache, and so every dependency built from them: a new container.

Importing this module imports pydantic and the standard library only; boto3
and powertools load on the AWS path, when a secret is first read there.
"""

from __future__ import annotations

import json
import os
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

Source = Literal["template", "parameter", "secret", "local"]


class ConfigError(Exception):
    """A setting is missing or invalid: a deployment problem, raised so the platform alarms.
    The message names the setting and where it comes from, never its value."""


# -- how a field is declared ------------------------------------------------------------------

def setting(alias: str, description: str, *, source: Source, default: Any = None, parameter: str | None = None,
            read_by: tuple[str, ...] = (), invalid: str | None = None) -> Any:
    """A field read from `alias` (the environment variable, or the key of the secret).

    `parameter`: the template parameter it comes from; `read_by`: the template's functions
    that read it (tests check the template wires the parameter to each); `invalid`: what the
    error says after the name when the value does not validate."""
    extra: dict[str, Any] = {"source": source, "read_by": list(read_by)}
    if parameter:
        extra["parameter"] = parameter
    if invalid:
        extra["invalid"] = invalid
    return Field(default, alias=alias, description=description, json_schema_extra=extra)


def _blank_is_unset(value: Any) -> Any:
    # a template parameter left at "" arrives as an empty variable: the same as not set
    if isinstance(value, str) and not value.strip():
        return None
    return value.strip() if isinstance(value, str) else value


def _comma_list(value: Any) -> Any:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _json_object(value: Any) -> Any:
    # in the secret a field map may be an object or a string holding one; in the environment, a string
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("is not a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError("is not a JSON object")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _secret_string(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        raise ValueError("is not a string")
    return _blank_is_unset(str(value)) if value is not None else None


#: Kinds of write key (docs/ingest.md, Trust levels): a `public` key sits in web pages, a `server` key
#: only on the customer's servers, so only it may send purchases, opt-outs and money.
PUBLIC, SERVER = "public", "server"
KEY_KINDS = (PUBLIC, SERVER)


def _write_keys(value: Any) -> Any:
    # `wk_abc` (public, as before kinds existed), `public:wk_abc`, `server:wk_xyz`: key -> kind.
    # The kind is a prefix in the secret, never sent by an SDK: a Basic user name cannot hold `:`.
    out: dict[str, str] = {}
    for entry in _comma_list(value):
        kind, sep, key = entry.partition(":")
        if not sep:
            kind, key = PUBLIC, entry
        elif kind not in KEY_KINDS:
            raise ValueError("is invalid: an entry of unknown kind (write `server:<key>` or `<key>`)")
        key = key.strip()
        if not key:
            raise ValueError("is invalid: an entry with a kind and no key")
        # a key listed as both kinds counts as public: the lower trust wins
        out[key] = PUBLIC if out.get(key) == PUBLIC else kind.strip()
    return out


Text = Annotated[str | None, BeforeValidator(_blank_is_unset)]
CommaList = Annotated[tuple[str, ...], BeforeValidator(_comma_list)]
SecretText = Annotated[str | None, BeforeValidator(_secret_string)]
WriteKeys = Annotated[dict[str, Literal["public", "server"]], BeforeValidator(_write_keys)]
FieldMap = Annotated[dict[str, str], BeforeValidator(_json_object)]
NOTIFIERS = ("SlackNotifyFunction", "EmailNotifyFunction", "CrmNotifyFunction")
ALL_FUNCTIONS = ("ScoreFunction", "PublishFunction", "PixelFunction", "CollectFunction", "HooksFunction",
                 "LeadsFunction", *NOTIFIERS, "SalesFunction")


def models_folder() -> Path:
    """The scoring_core layer's `models/` folder (found without importing the engine)."""
    spec = find_spec("scoring_core")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("MODEL_FILE cannot be resolved: the scoring_core layer is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


# -- the settings -----------------------------------------------------------------------------

class Settings(BaseModel):
    """The environment part as fields (validated once); the secret part as methods (read on each call)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    queue_url: Text = setting("QUEUE_URL", "the events queue the ingest functions send to",
                              source="template", read_by=("PixelFunction", "CollectFunction", "HooksFunction"))
    leads_table: Text = setting("LEADS_TABLE", "the leads table", source="template",
                                read_by=("ScoreFunction", "LeadsFunction", "SalesFunction", "SweepFunction"))
    bus_name: Text = setting("BUS_NAME", "the bus stage changes are published to", source="template",
                             read_by=("PublishFunction",))
    alerts_table: Text = setting("ALERTS_TABLE", "the notifiers' dedupe records", source="template",
                                 read_by=(*NOTIFIERS, "LeadsFunction"))
    alerts_dlq_url: Text = setting("ALERTS_DLQ_URL", "where alerts that cannot be delivered are parked",
                                   source="template", read_by=NOTIFIERS)
    secrets_arn: CommaList = setting(
        "SECRETS_ARN", "the secrets' ARNs, comma-separated (`Secrets`, and `LeadKeySecret` for the functions that "
        "key leads); unset locally, where secrets are environment variables", source="template", default=(),
        read_by=("CollectFunction", "HooksFunction", "ScoreFunction", "LeadsFunction", "PixelFunction",
                 "SlackNotifyFunction", "CrmNotifyFunction", "SalesFunction"))
    max_receives: int = setting("MAX_RECEIVES", "the events queue's `maxReceiveCount`: the receive after which "
                                "a failing record goes to the dead-letter queue", source="template", default=5,
                                read_by=("ScoreFunction",), invalid="must be a whole number ≥ 1")
    retention_days: int = setting("RETENTION_DAYS", "days an idle lead is kept before DynamoDB TTL removes it",
                                  source="parameter", parameter="RetentionDays", default=400,
                                  read_by=("ScoreFunction",), invalid="must be a whole number of days ≥ 1")
    model_file: Path | None = setting(
        "MODEL_FILE", "the scoring model of the worker and the leads API: a file name in the scoring_core layer's "
        "`scoring_core/models/` (e.g. `acme.yaml`), or a path; empty: the shipped `default.yaml`",
        source="parameter", parameter="ModelFile",
        read_by=("ScoreFunction", "LeadsFunction", "PixelFunction", "CollectFunction", "SalesFunction", "SweepFunction"))
    routing_file: Path | None = setting(
        "ROUTING_FILE", "routing rules and owners ([docs/routing.md](docs/routing.md)): a file name in the scoring_core "
        "layer's `scoring_core/models/` (e.g. `routing.yaml`), or a path; empty: no routing (one Slack webhook, the "
        "email lists above, no owner)", source="parameter", parameter="RoutingFile",
        read_by=("ScoreFunction", "SweepFunction", "LeadsFunction", "SalesFunction", "SlackNotifyFunction",
                 "EmailNotifyFunction"))
    lead_url_base: Text = setting("LEAD_URL_BASE", "alerts link to `<LEAD_URL_BASE>/<lead_id>` (your CRM); empty: "
                                  "to the signed lead page on `API_URL`, which a browser opens for 30 days",
                                  source="parameter", parameter="LeadUrlBase", read_by=NOTIFIERS[:2])
    console_origins: CommaList = setting("CONSOLE_ORIGINS", "comma-separated origins (`https://console.example.com`) "
                                         "whose pages may read `/leads` cross-origin; empty: none (`*` is ignored)",
                                         source="parameter", parameter="ConsoleOrigins", default=(),
                                         read_by=("LeadsFunction",))
    api_url: Text = setting("API_URL", "this stack's HTTP API base URL: the notifiers' signed lead-page links "
                            "point there", source="template", read_by=NOTIFIERS[:2])
    alert_email_from: Text = setting("ALERT_EMAIL_FROM", "SES-verified sender of email alerts; empty turns email "
                                     "alerts off", source="parameter", parameter="AlertEmailFrom",
                                     read_by=("EmailNotifyFunction",))
    alert_email_to: CommaList = setting("ALERT_EMAIL_TO", "comma-separated recipients of MQL and SQL email alerts",
                                        source="parameter", parameter="AlertEmailTo", default=(),
                                        read_by=("EmailNotifyFunction",), invalid="is not a comma-separated list of email addresses")
    alert_email_to_mql: CommaList = setting("ALERT_EMAIL_TO_MQL", "recipients of MQL alerts instead of "
                                            "`ALERT_EMAIL_TO`", source="parameter", parameter="AlertEmailToMql",
                                            default=(), read_by=("EmailNotifyFunction",),
                                            invalid="is not a comma-separated list of email addresses")
    alert_email_to_sql: CommaList = setting("ALERT_EMAIL_TO_SQL", "recipients of SQL alerts instead of "
                                            "`ALERT_EMAIL_TO`", source="parameter", parameter="AlertEmailToSql",
                                            default=(), read_by=("EmailNotifyFunction",),
                                            invalid="is not a comma-separated list of email addresses")
    alert_downgrades: CommaList = setting("ALERT_DOWNGRADES", "comma-separated channels (`slack`, `email`) that also "
                                          "alert when a lead's score decays out of its stage; empty: none",
                                          source="parameter", parameter="AlertDowngrades", default=(),
                                          read_by=NOTIFIERS[:2])
    alert_triggers: CommaList = setting("ALERT_TRIGGERS", "comma-separated channels (`slack`, `email`) that also "
                                        "alert when one of the model's triggers fires (`LeadTriggered`); empty: none",
                                        source="parameter", parameter="AlertTriggers", default=(),
                                        read_by=NOTIFIERS[:2])
    console_alerts: bool = setting("CONSOLE_ALERTS", "`1`: with no Slack webhook, print alerts on the terminal "
                                   "(the local stack sets it)", source="local", default=False,
                                   invalid="must be 1 or 0 (true or false)")
    slack_dev_response_base: Text = setting(
        "SLACK_DEV_RESPONSE_BASE", "local stack and tests only: an `http://127.0.0.1:<port>/` base that Slack "
        "`response_url`s may start with besides `https://hooks.slack.com/` (loopback hosts only; ignored when "
        "`SECRETS_ARN` is set)", source="local")
    aws_endpoint_url: Text = setting("AWS_ENDPOINT_URL", "points the AWS clients at an emulator (the local stack "
                                     "sets it to its moto server)", source="local")

    _parsed: dict[tuple[str, str, str], Any] = PrivateAttr(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        """The settings from the environment (default `os.environ`); ConfigError names each bad one."""
        env = dict(os.environ if environ is None else environ)
        try:
            return cls.model_validate({k: v for k, v in env.items() if k in _ALIASES})
        except ValidationError as exc:
            raise ConfigError("; ".join(_describe(cls, e) for e in exc.errors())) from None

    @field_validator("max_receives", "retention_days", mode="before")
    @classmethod
    def _whole_number(cls, value: Any, info: Any) -> Any:
        value = _blank_is_unset(value)
        if value is None:
            return cls.model_fields[info.field_name].default
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("not a whole number ≥ 1")
        return value

    @field_validator("alert_email_to", "alert_email_to_mql", "alert_email_to_sql", mode="after")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any("@" not in a for a in value):
            raise ValueError("an entry is not an email address")
        return value

    @field_validator("console_alerts", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        return _blank_is_unset(value) or False

    @field_validator("model_file", "routing_file", mode="before")
    @classmethod
    def _model_file(cls, value: Any) -> Path | None:
        """A bare file name is one of the layer's models (or routing files); a path is used as it is."""
        value = _blank_is_unset(value)
        if value is None:
            return None
        given = Path(str(value))
        if "/" not in str(value) and os.sep not in str(value):  # `./acme.yaml` is a path, `acme.yaml` a name
            folder = models_folder()
            path = folder / given
            if not path.is_file():
                there = ", ".join(sorted(p.name for p in folder.glob("*.yaml"))) or "nothing"
                raise ValueError(
                    f"names {given.name}, which is not in the scoring_core layer's models folder {folder} "
                    f"(it holds {there}): put the file in layers/scoring_core/scoring_core/models/, `make build`, deploy")
            return path
        if not given.is_file():
            raise ValueError(f"names {given}, which is not a file")
        return given

    # ---- the environment part

    def required(self, name: str) -> Any:
        """The value of field `name`, or ConfigError naming the variable when it is not set."""
        value = getattr(self, name)
        if value in (None, ""):
            field = type(self).model_fields[name]
            raise ConfigError(f"{field.alias} is not set ({_where(field.json_schema_extra)})")
        return value

    def alert_recipients(self, stage: str) -> tuple[str, ...]:
        """`ALERT_EMAIL_TO_<STAGE>`, else `ALERT_EMAIL_TO`."""
        per_stage = {"mql": self.alert_email_to_mql, "sql": self.alert_email_to_sql}.get(stage, ())
        return per_stage or self.alert_email_to

    @property
    def secrets_in_aws(self) -> bool:
        """Secrets come from Secrets Manager (deployed), not only the environment (local stack, tests)."""
        return bool(self.secrets_arn)

    # ---- the secret part: looked up on every call (env, then the secrets' 5-minute cache)

    def api_token(self) -> str | None:
        return self._secret("api_token", "API_TOKEN")

    def write_keys(self) -> dict[str, str]:
        """Each write key and its kind, `public` or `server`."""
        return dict(self._secret("write_keys", "WRITE_KEYS"))

    def webhook_secret(self, source: str) -> str | None:
        return self._secret("webhook_secret", f"WEBHOOK_SECRET_{source.upper()}")

    def field_map(self, source: str) -> dict[str, str]:
        return self._secret("field_map", f"FIELD_MAP_{source.upper()}")

    def slack_webhook_named(self, key: str) -> str | None:
        """The Slack webhook under the key a route names (`SLACK_WEBHOOK_URL_<NAME>`, docs/routing.md)."""
        return self._secret("slack_webhook_routed", key) if key.startswith("SLACK_WEBHOOK_URL") else None

    def slack_webhook_url(self, stage: str) -> str | None:
        """`SLACK_WEBHOOK_URL_<STAGE>`, else `SLACK_WEBHOOK_URL`."""
        field = {"mql": "slack_webhook_url_mql", "sql": "slack_webhook_url_sql"}.get(stage)
        per_stage = self._secret(field, f"SLACK_WEBHOOK_URL_{stage.upper()}") if field else None
        return per_stage or self._secret("slack_webhook_url", "SLACK_WEBHOOK_URL")

    def slack_signing_secret(self) -> str | None:
        return self._secret("slack_signing_secret", "SLACK_SIGNING_SECRET")

    def crm_webhook_url(self) -> str | None:
        return self._secret("crm_webhook_url", "CRM_WEBHOOK_URL")

    def crm_webhook_secret(self) -> str | None:
        return self._secret("crm_webhook_secret", "CRM_WEBHOOK_SECRET")

    def lead_key_secret(self) -> str:
        """The key of the email hash in lead keys: required in AWS, a fixed value locally."""
        value = self._secret("lead_key_secret", "LEAD_KEY_SECRET")
        if value:
            return value
        if self.secrets_in_aws:
            raise ConfigError("LEAD_KEY_SECRET is missing from the secrets in SECRETS_ARN "
                              "(the template's LeadKeySecret generates it)")
        from .identity import LOCAL_KEY_SECRET

        return LOCAL_KEY_SECRET

    def _secret(self, field: str, name: str) -> Any:
        found = _lookup_secret(name, self.secrets_arn)
        if found is None:
            return SecretKeys.model_fields[field].default
        raw, origin = found
        memo_key = (field, name, raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True, default=str))
        if memo_key in self._parsed:
            return self._parsed[memo_key]
        alias = SecretKeys.model_fields[field].alias
        try:
            value = getattr(SecretKeys.model_validate({alias: raw}), field)
        except ValidationError as exc:
            problem = _describe(SecretKeys, exc.errors()[0], name=f"{name} ({origin})")
            raise ConfigError(problem) from None
        if len(self._parsed) > 256:  # rotations are rare; this only bounds a pathological case
            self._parsed.clear()
        self._parsed[memo_key] = value
        return value


class SecretKeys(BaseModel):
    """The keys of the secrets (`SECRETS_ARN`): what each one is and what its value must be.

    Never instantiated whole: `Settings._secret` validates one key at a time, as it is read.
    Its validator is built on the first read of a secret, not at import: the pixel and the
    publisher read none, and the cold start of the others is spared it."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)

    api_token: SecretText = setting("API_TOKEN", "bearer token for `/leads` (generated by the template; locally a "
                                    "new one is printed at each start)", source="secret",
                                    read_by=("LeadsFunction",) + NOTIFIERS[:2] + ("SalesFunction",))
    write_keys: WriteKeys = setting(
        "WRITE_KEYS", "comma-separated SDK write keys accepted on `/v1/*`: `wk_…` is a public (browser) key, "
        "`server:wk_…` a server key, which alone may send purchases, opt-outs and amounts "
        "([trust levels](docs/ingest.md#trust-levels-who-may-say-what)); the SDK sends the key without `server:`",
        source="secret", default={}, read_by=("CollectFunction",), invalid="is not a comma-separated list")
    webhook_secret: SecretText = setting(
        "WEBHOOK_SECRET_<SOURCE>", "signing secret per webhook source: `GENERIC`, `TYPEFORM`, `TALLY`, `CALENDLY`, "
        "`STRIPE` (Stripe's whole `whsec_…` string)", source="secret", read_by=("HooksFunction",))
    field_map: FieldMap = setting(
        "FIELD_MAP_<SOURCE>", "optional JSON object per webhook source: a sender's field key → lead fact name "
        "([signatures.md](docs/signatures.md#field-names)); in the secret, an object or a string holding one",
        source="secret", default={}, read_by=("HooksFunction",))
    slack_webhook_url: SecretText = setting("SLACK_WEBHOOK_URL", "Slack incoming webhook for MQL and SQL alerts",
                                            source="secret", read_by=("SlackNotifyFunction",))
    slack_webhook_url_mql: SecretText = setting("SLACK_WEBHOOK_URL_MQL", "Slack webhook for MQL alerts instead of "
                                                "`SLACK_WEBHOOK_URL`", source="secret", read_by=("SlackNotifyFunction",))
    slack_webhook_url_sql: SecretText = setting("SLACK_WEBHOOK_URL_SQL", "Slack webhook for SQL alerts instead of "
                                                "`SLACK_WEBHOOK_URL`", source="secret", read_by=("SlackNotifyFunction",))
    slack_webhook_routed: SecretText = setting(
        "SLACK_WEBHOOK_URL_<NAME>", "a Slack webhook a route of the routing file names (its `slack:`, e.g. "
        "`SLACK_WEBHOOK_URL_ENTERPRISE`; [docs/routing.md](docs/routing.md)); an unknown name: the default webhook",
        source="secret", read_by=("SlackNotifyFunction",))
    slack_signing_secret: SecretText = setting(
        "SLACK_SIGNING_SECRET", "the Slack app's signing secret: `POST /slack/interactions` (Accept and Reject "
        "buttons) refuses every request without it ([notifications](docs/notifications.md#accept-and-reject-in-slack))",
        source="secret", read_by=("SalesFunction",))
    crm_webhook_url: SecretText = setting("CRM_WEBHOOK_URL", "where stage changes are POSTed", source="secret",
                                          read_by=("CrmNotifyFunction",))
    crm_webhook_secret: SecretText = setting("CRM_WEBHOOK_SECRET", "the key the CRM webhook's requests are signed "
                                             "with; without it nothing is sent", source="secret",
                                             read_by=("CrmNotifyFunction",))
    lead_key_secret: SecretText = setting(
        "LEAD_KEY_SECRET", "key of the email hash in lead keys: generated by the template, required in AWS, a fixed "
        "local value otherwise; never rotate it; it also keys the signatures of email pixel URLs "
        "(`leadscore pixel-url`)", source="secret",
        read_by=("ScoreFunction", "LeadsFunction", "PixelFunction"))


_ALIASES = frozenset(f.alias for f in Settings.model_fields.values())


def _where(extra: Any) -> str:
    extra = extra or {}
    return {
        "template": "set by the template",
        "parameter": f"template parameter {extra.get('parameter')}",
        "secret": "a key of the secret, or an environment variable",
        "local": "an environment variable",
    }[extra.get("source", "local")]


def _describe(model: type[BaseModel], error: Any, name: str | None = None) -> str:
    """`<NAME> <what is wrong>`, from a pydantic error, without the input value."""
    loc = error.get("loc") or ("?",)
    field = next((f for f in model.model_fields.values() if f.alias == loc[0]), None)
    name = name or str(loc[0])
    extra = (field.json_schema_extra if field else None) or {}
    message = str(error.get("msg", "is invalid"))
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
        if message.startswith(("is ", "names ")):
            return f"{name} {message}"
    if "invalid" in extra:
        return f"{name} {extra['invalid']}"
    return f"{name} is invalid: {message}"


def _lookup_secret(name: str, arns: tuple[str, ...]) -> tuple[Any, str] | None:
    value = os.environ.get(name)
    if value is not None:
        return value, "environment variable"
    if not arns:
        return None
    from .adapters.secrets import secret_key  # powertools, only on the AWS path

    return secret_key(name, arns)


# -- once per container -----------------------------------------------------------------------

_current: Settings | None = None
_generation = 0


def settings() -> Settings:
    """The container's settings: validated on first use, then kept (see the module's docstring)."""
    global _current
    if _current is None:
        _current = Settings.from_environ()
    return _current


def generation() -> int:
    """How many times `reset()` has run: what was built from the settings of an earlier
    generation is stale (`leadscore.dependencies` builds its objects again)."""
    return _generation


def reset() -> None:
    """Forget the settings and the secrets' cache: the next use reads the environment again, and
    the container's dependencies are built again from it (tests; the local stack when it starts)."""
    global _current, _generation
    _current = None
    _generation += 1
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:  # never imported just to be cleared
        parameters.clear_caches()


def table() -> str:
    """The README's Configuration table, in Markdown, from the fields above."""
    rows = ["| name | source | what |", "|---|---|---|"]
    for model in (SecretKeys, Settings):
        for field in model.model_fields.values():
            extra = field.json_schema_extra or {}
            source = {"template": "set by the template", "parameter": f"parameter `{extra.get('parameter')}`",
                      "secret": "key of the `Secrets` secret" if field.alias != "LEAD_KEY_SECRET"
                      else "key of the `LeadKeySecret` secret", "local": "environment"}[extra["source"]]
            rows.append(f"| `{field.alias}` | {source} | {field.description} |")
    return "\n".join(rows)
