"""Validated, frozen polymm settings from config.yaml and POLYMM_* overrides, and env secrets."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from polymm.config_legacy_keys import map_legacy_keys

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.yaml"
INSTALL_DIR = DEFAULT_CONFIG_PATH.parent  # polymm's directory: the repository, or /opt/polymm under the unit
ENV_PREFIX = "POLYMM_"
ENV_PATH_SEPARATOR = "__"
SECRET_ENV_VARS: Mapping[str, str] = {
    "private_key": "POLYMARKET_PRIVATE_KEY",
    "funder": "POLYMARKET_FUNDER",
    "api_key": "POLYMARKET_API_KEY",
    "api_secret": "POLYMARKET_API_SECRET",
    "api_passphrase": "POLYMARKET_API_PASSPHRASE",
    # the relayer's API key and the address owning it (docs.polymarket.com/api-reference/relayer): merges
    "relayer_api_key": "POLYMARKET_RELAYER_API_KEY",
    "relayer_api_key_address": "POLYMARKET_RELAYER_API_KEY_ADDRESS",
}


class ConfigError(Exception):
    """Invalid configuration: one line per problem, `<key.path>: <bad value> — <what is allowed>`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# --- field types --------------------------------------------------------------------------


def _decimal_from_number(value: object) -> object:
    # YAML yields floats; going through repr() turns 0.05 into Decimal('0.05') rather than
    # the float's binary expansion. Strings and bools are refused: a quoted number is a typo.
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(repr(value))
    raise PydanticCustomError("decimal_type", "must be a number")


def _tuple_from_list(value: object) -> object:
    # Frozen settings hold tuples; YAML and the environment produce lists.
    return tuple(value) if isinstance(value, list) else value


def _path_from_text(value: object) -> object:
    if isinstance(value, str) and value:
        return Path(value)
    if isinstance(value, Path):
        return value
    raise PydanticCustomError("path_type", "must be a non-empty path string")


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise PydanticCustomError("url_scheme", "must be a URL starting with http:// or https://")
    return value


def _http_url_or_empty(value: str) -> str:
    return value if value == "" else _http_url(value)


def _ws_url(value: str) -> str:
    if not value.startswith(("ws://", "wss://")):
        raise PydanticCustomError("url_scheme", "must be a URL starting with ws:// or wss://")
    return value


def _signature_type_not_bool(value: object) -> object:
    # Literal[0, 1, 2, 3] would accept True as 1 even in strict mode.
    if isinstance(value, bool):
        raise PydanticCustomError("signature_type_bool", "must be 0, 1, 2 or 3")
    return value


# Prices, sizes and money are Decimal so that comparisons deciding actions are exact (STYLE.md §4).
Dec = Annotated[Decimal, BeforeValidator(_decimal_from_number)]
PositiveDecimal = Annotated[Dec, Field(gt=0)]
NonNegativeDecimal = Annotated[Dec, Field(ge=0)]
PriceGap = Annotated[Dec, Field(gt=0, lt=1)]  # an absolute price difference in probability units
Seconds = Annotated[float, Field(gt=0)]
Tries = Annotated[int, Field(ge=1)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
WsUrl = Annotated[str, AfterValidator(_ws_url)]
FilePath = Annotated[Path, BeforeValidator(_path_from_text)]

Ranking = Literal["expected_reward", "original_ratio"]
QuotePlacement = Literal["band_edge", "one_tick_inside", "band_floor"]
Sizing = Literal["multiplier", "reward_minimum"]
HedgeMode = Literal["cross", "maker"]
StopLossDepth = Literal["covering", "best_bid"]
JumpScope = Literal["market", "venue"]
StopLossOn = Literal["best_bid", "midpoint"]
VenueMode = Literal["embedded-sim", "remote"]
SimScenario = Literal["calm", "trending", "jumpy"]
SimUniverse = Literal["real", "generated"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
SignatureType = Annotated[Literal[0, 1, 2, 3], BeforeValidator(_signature_type_not_bool)]


def _field_conflict(field: str, value: object, allowed: str) -> PydanticCustomError:
    """An error raised by a section-level check but reported against one key of that section."""
    return PydanticCustomError("field_conflict", allowed, {"field": field, "value": value})


# --- sections -----------------------------------------------------------------------------


class _Section(BaseModel):
    # strict: a quoted number or a 0/1 for a bool is a mistake to report, not to coerce.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _omitted_keys_keep_defaults(cls, data: object) -> object:
        # A partial nested section (spread_range: {min: 0.01}, or one env override) keeps the
        # default's other keys; otherwise setting one bound would silently drop the other.
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for name, field in cls.model_fields.items():
            given = filled.get(name)
            if isinstance(given, dict) and isinstance(field.default, BaseModel):
                filled[name] = {**dict(field.default), **given}
        return filled


class ValueRange(_Section):
    """Inclusive bounds for a market filter; a null bound does not limit."""

    min: NonNegativeDecimal | None = None
    max: NonNegativeDecimal | None = None

    @model_validator(mode="after")
    def _min_not_above_max(self) -> ValueRange:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise PydanticCustomError("range_order", "min must be ≤ max")
        return self

    def contains(self, value: Decimal) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class StrategyConfig(_Section):
    order_size_multiplier: PositiveDecimal = Decimal("1.0")
    max_exposure_per_market_usdc: PositiveDecimal = Decimal("25")
    max_total_exposure_usdc: PositiveDecimal = Decimal("250")
    max_markets: Annotated[int, Field(ge=1)] = 10
    min_reward_ratio: NonNegativeDecimal = Decimal("0")
    min_profit_margin_bps: NonNegativeDecimal = Decimal("5")
    ranking: Ranking = "expected_reward"
    quote_placement: QuotePlacement = "band_edge"
    sizing: Sizing = "multiplier"
    toxic_pause_seconds: Annotated[float, Field(ge=0)] = 1800.0
    toxic_jump: PriceGap = Decimal("0.02")
    # merge a held YES+NO pair back into collateral through the relayer (polymm.controller.merger); only where the
    # account can: a deposit wallet (venue.signature_type 3) with a relayer API key
    merge_pairs: bool = True
    jump_memory_seconds: Annotated[float, Field(ge=0)] = 43200.0
    jump_size: PriceGap = Decimal("0.05")
    jump_scope: JumpScope = "market"
    # jumps per market-hour watched above which every market is left (polymm.desired.toxicity; 0: off)
    max_jump_rate: NonNegativeDecimal = Decimal("0.04")
    # a midpoint move of trend_move over trend_window_seconds leaves the market while it lasts, and a market is quoted
    # only after its midpoint has been watched that long (polymm.desired.toxicity; 0: off, as before)
    trend_window_seconds: Annotated[float, Field(ge=0)] = 3600.0
    trend_move: PriceGap = Decimal("0.03")

    @model_validator(mode="after")
    def _market_cap_within_total(self) -> StrategyConfig:
        if self.max_exposure_per_market_usdc <= self.max_total_exposure_usdc:
            return self
        # the two caps clash: name the one moved from its default (lowering the total blames the total)
        defaults = type(self).model_fields
        if (self.max_exposure_per_market_usdc == defaults["max_exposure_per_market_usdc"].default
                and self.max_total_exposure_usdc != defaults["max_total_exposure_usdc"].default):
            raise _field_conflict(
                "max_total_exposure_usdc",
                self.max_total_exposure_usdc,
                f"must be ≥ strategy.max_exposure_per_market_usdc ({self.max_exposure_per_market_usdc}): "
                "lower the per-market cap with it",
            )
        raise _field_conflict(
            "max_exposure_per_market_usdc",
            self.max_exposure_per_market_usdc,
            f"must be ≤ strategy.max_total_exposure_usdc ({self.max_total_exposure_usdc})",
        )


class RiskConfig(_Section):
    price_cliff_threshold: PriceGap = Decimal("0.05")
    min_protection_size_multiplier: NonNegativeDecimal = Decimal("1.0")
    min_protection_size_multiplier_hedge: NonNegativeDecimal = Decimal("5.0")


class HedgeSellConfig(_Section):
    max_bid_gap: PriceGap = Decimal("0.05")
    stop_loss_pct: Annotated[Dec, Field(gt=0, lt=1)] = Decimal("0.10")
    take_profit_pct: NonNegativeDecimal = Decimal("0.10")
    dynamic_follow_enabled: bool = True
    mode: HedgeMode = "maker"
    maker_wait_seconds: Annotated[float, Field(ge=0)] = 1800.0
    maker_step_seconds: Annotated[float, Field(ge=0)] = 300.0
    stop_loss_depth: StopLossDepth = "best_bid"
    maker_take_at_cost: bool = False
    stop_loss_on: StopLossOn = "best_bid"
    stop_loss_maker_seconds: Annotated[float, Field(ge=0)] = 300.0


def _condition_id(value: object) -> object:
    # condition ids are 0x + 64 hex digits (the market's CTF condition); compared in lower case. An unquoted
    # 0x… arrives as the text written (see _hex_stays_text), so a shortened id is refused, never padded.
    if isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        return value.lower()
    raise PydanticCustomError("condition_id", "must be a condition id: 0x followed by 64 hex digits")


ConditionId = Annotated[str, BeforeValidator(_condition_id)]


class FiltersConfig(_Section):
    spread_range: ValueRange = ValueRange(max=Decimal("0.05"))
    # the first (YES) token's midpoint; symmetric bounds keep the NO token's in the same range
    midpoint_range: ValueRange = ValueRange(min=Decimal("0.05"), max=Decimal("0.95"))
    volume_24hr_range: ValueRange = ValueRange()
    rewards_min_size_range: ValueRange = ValueRange(max=Decimal("20"))
    rate_per_day_range: ValueRange = ValueRange(min=Decimal("5"))
    min_days_until_end: Annotated[int, Field(ge=0)] = 7
    question_blacklist: Annotated[
        tuple[Annotated[str, Field(min_length=1)], ...], BeforeValidator(_tuple_from_list)
    ] = ("Trump",)
    condition_id_blacklist: Annotated[tuple[ConditionId, ...], BeforeValidator(_tuple_from_list)] = ()


class MarketOverride(_Section):
    """Settings for one market that replace the strategy's; a key left out keeps the strategy's value."""

    enabled: bool = True
    max_exposure_usdc: PositiveDecimal | None = None  # this market's cap instead of max_exposure_per_market_usdc
    order_size: PositiveDecimal | None = None  # shares per buy quote instead of rewards_min_size × multiplier

    @model_validator(mode="before")
    @classmethod
    def _null_means_empty(cls, data: object) -> object:
        return {} if data is None else data


class MarketsConfig(_Section):
    overrides: dict[ConditionId, MarketOverride] = Field(default_factory=dict)

    @field_validator("overrides", mode="before")
    @classmethod
    def _null_means_none(cls, value: object) -> object:
        return {} if value is None else value

    def __hash__(self) -> int:  # frozen settings stay hashable although they hold a mapping
        return hash(tuple(sorted(self.overrides.items())))

    def override(self, condition_id: str) -> MarketOverride | None:
        return self.overrides.get(condition_id.lower())


class LoopConfig(_Section):
    update_interval_seconds: Seconds = 1200.0
    order_check_interval_seconds: Seconds = 0.5
    orderbook_update_interval_seconds: Seconds = 0.5
    # Despite the name this is an absolute price difference, not basis points; the name is kept
    # so configs written for the seed bot still load.
    price_deviation_threshold_bps: Annotated[Dec, Field(ge=0, lt=1)] = Decimal("0.0001")
    # Wake the loop on the venue's WebSocket channels (fills, order updates, book changes in our markets);
    # false: poll every order_check_interval_seconds only.
    channels_enabled: bool = True


class VolatilityCheckConfig(_Section):
    enabled: bool = True
    volatility_threshold: Annotated[float, Field(gt=0)] = 0.03
    window_samples: Annotated[int, Field(ge=2)] = 30  # a deviation needs at least two samples


class OrderbookServiceConfig(_Section):
    enabled: bool = False
    market_scan_interval: Seconds = 300.0
    orderbook_update_interval: Seconds = 3.0
    redis_host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    redis_port: Annotated[int, Field(ge=1, le=65535)] = 6379
    redis_db: Annotated[int, Field(ge=0)] = 0
    redis_key_prefix: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")] = "polymm"
    volatility_check: VolatilityCheckConfig = VolatilityCheckConfig()


class SimConfig(_Section):
    seed: int = 42
    scenario: SimScenario = "calm"
    speed: Annotated[float, Field(gt=0)] = 1.0
    markets: Annotated[int, Field(ge=1)] = 300
    initial_collateral_usdc: NonNegativeDecimal = Decimal("1000")
    # real: markets drawn from the real reward universe's snapshot (polymm.sim.realdata); generated: the old generator
    universe: SimUniverse = "real"
    universe_file: str = ""  # another snapshot file of the same fields; "" = the shipped one (or POLYMM_SIM_UNIVERSE_FILE)


class VenueConfig(_Section):
    mode: VenueMode = "embedded-sim"
    clob_url: HttpUrl = "https://clob.polymarket.com"
    gamma_url: HttpUrl = "https://gamma-api.polymarket.com"
    data_url: HttpUrl = "https://data-api.polymarket.com"
    ws_url: WsUrl = "wss://ws-subscriptions-clob.polymarket.com"
    # the relayer that knows which contract wallets are deployed; "" = derived: Polymarket's own for its CLOB,
    # `{clob_url}/relayer` for any other (a simulated venue serves it there)
    relayer_url: Annotated[str, AfterValidator(_http_url_or_empty)] = ""
    chain_id: Annotated[int, Field(ge=1)] = 137
    signature_type: SignatureType = 0
    request_timeout_seconds: Seconds = 30.0
    sim: SimConfig = SimConfig()


class LedgerConfig(_Section):
    path: FilePath = Path("var/polymm.sqlite")
    # paper trading (embedded-sim) starts an empty venue every time: the previous run's ledger is kept beside the new
    # one under its end time, the newest this many (0: deleted at every start)
    keep_paper_runs: Annotated[int, Field(ge=0)] = 5


class LoggingConfig(_Section):
    level: LogLevel = "INFO"
    console_level: LogLevel = "INFO"
    file_level: LogLevel = "WARNING"
    directory: FilePath = Path("logs")


class RetriesConfig(_Section):
    order_max_tries: Tries = 3
    order_retry_interval_seconds: Seconds = 1.0
    hedge_max_tries: Tries = 10
    hedge_retry_interval_seconds: Seconds = 1.0
    hedge_cooldown_seconds: Annotated[float, Field(ge=0)] = 30.0


class ControllerConfig(_Section):
    clean_start: bool = True
    cancel_foreign_orders: bool = False
    # The venue cancels every order when heartbeats stop for about 10 s (VENUE.md).
    heartbeat_interval_seconds: Annotated[float, Field(gt=0, lt=10)] = 5.0
    open_orders_grace_seconds: Seconds = 5.0
    # Longer than the venue's balance lag after a fill (a hedge is refused `not enough balance` until the
    # bought tokens settle: py-clob-client issues #287, #290, #342), so a normal fill does not flap health.
    settle_ticks: Annotated[int, Field(ge=1)] = 20
    # Our positions compared with the venue's (Data API), and our markets' lifecycle read (Gamma), every this many
    # ticks and at start.
    positions_check_ticks: Annotated[int, Field(ge=1)] = 20
    # Prometheus metrics (polymm/telemetry/metrics.py): off unless a port is set, and on loopback unless told otherwise.
    metrics_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    metrics_host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    earnings_interval_seconds: Annotated[float, Field(ge=1)] = 300.0


class AlertsConfig(_Section):
    """When alerts fire (polymm/telemetry/alerts.py); where they go comes from the environment only."""

    unhedged_ticks: Annotated[int, Field(ge=1)] = 5
    unhedged_min_shares: NonNegativeDecimal = Decimal("5")
    exposure_threshold: Annotated[Dec, Field(gt=0, le=1)] = Decimal("0.9")
    min_interval_seconds: Annotated[float, Field(ge=0)] = 300.0
    daily_summary_hour_utc: Annotated[int, Field(ge=0, le=23)] = 8
    telegram_api_url: HttpUrl = "https://api.telegram.org"


class PolymmConfig(_Section):
    """Every setting of polymm; defaults equal the repo-root config.yaml."""

    strategy: StrategyConfig = StrategyConfig()
    risk: RiskConfig = RiskConfig()
    hedge_sell: HedgeSellConfig = HedgeSellConfig()
    filters: FiltersConfig = FiltersConfig()
    markets: MarketsConfig = MarketsConfig()
    loop: LoopConfig = LoopConfig()
    orderbook_service: OrderbookServiceConfig = OrderbookServiceConfig()
    venue: VenueConfig = VenueConfig()
    ledger: LedgerConfig = LedgerConfig()
    logging: LoggingConfig = LoggingConfig()
    retries: RetriesConfig = RetriesConfig()
    controller: ControllerConfig = ControllerConfig()
    alerts: AlertsConfig = AlertsConfig()


def under_install_dir(path: Path) -> Path:
    """Where a ledger.path or logging.directory points: a relative one under polymm's directory, as the default
    config.yaml is found, never under the shell's working directory (`status` run from elsewhere would not find the
    loop's ledger)."""
    return path if path.is_absolute() else INSTALL_DIR / path


# --- secrets ------------------------------------------------------------------------------

_PRIVATE_KEY = re.compile(r"(?:0x)?[0-9a-fA-F]{64}")
# secp256k1's group order: a private key is a scalar in 1..n-1 (SEC 2, section 2.4.1); an all-zero
# key is 64 hex digits too, but no wallet can sign with it.
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class Secrets(BaseModel):
    """Wallet key and API credentials, read only from the environment; values never print."""

    # hide_input_in_errors: a malformed key must not be echoed by a ValidationError either.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    private_key: SecretStr | None = None
    funder: SecretStr | None = None
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    api_passphrase: SecretStr | None = None
    relayer_api_key: SecretStr | None = None
    relayer_api_key_address: SecretStr | None = None

    @field_validator("private_key")
    @classmethod
    def _private_key_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value().strip()
        if not _PRIVATE_KEY.fullmatch(text):
            raise PydanticCustomError("private_key_format", "must be 64 hex digits, with or without a leading 0x")
        digits = text[2:] if text.startswith("0x") else text
        if not 0 < int(digits, 16) < _SECP256K1_ORDER:
            raise PydanticCustomError(
                "private_key_range", "is not a usable secp256k1 key (zero, or not below the curve order)"
            )
        # wallets export the key without 0x; the SDK and the signer want it with
        return SecretStr("0x" + digits.lower())

    @field_validator("funder")
    @classmethod
    def _funder_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _ADDRESS.fullmatch(value.get_secret_value()):
            raise PydanticCustomError("address_format", "must be 0x followed by 40 hex digits")
        return value


def load_secrets(environ: Mapping[str, str] | None = None) -> Secrets:
    """Read POLYMARKET_* secrets from `environ` (default os.environ); empty variables count as unset."""
    env = os.environ if environ is None else environ
    values = {field: env[name] for field, name in SECRET_ENV_VARS.items() if env.get(name)}
    try:
        return Secrets.model_validate(values)
    except ValidationError as exc:
        problems = [
            f"{SECRET_ENV_VARS[str(error['loc'][0])]}: <hidden> — {error['msg']}"
            for error in exc.errors(include_input=False)
        ]
    # Raised outside the except block so the ValidationError is not chained onto it.
    raise ConfigError(problems)


# --- loading ------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a repeated key, which PyYAML would otherwise let silently win."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _hex_stays_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    # YAML 1.1 reads an unquoted 0x… as a hexadecimal integer, which loses how many digits were written
    # (0xd4e80f0665 and the same digits zero-padded to an id are one number). In polymm's config a 0x… is
    # a condition id or an address, never a number: kept as written, so a shortened id is refused.
    text = loader.construct_scalar(node)
    if str(text).lower().lstrip("+-").startswith("0x"):
        return text
    return loader.construct_yaml_int(node)


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _hex_stays_text)


def _parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: builds plain data only


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found — give an existing config file"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read ({exc.strerror}) — give a readable file"]) from None
    try:
        data = _parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError([_describe_yaml_error(str(path), exc)]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{path}: {_show(data)} — the top level must be a mapping of sections "
             f"(allowed keys: {', '.join(PolymmConfig.model_fields)})"]
        )
    return data


def _describe_yaml_error(source: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).replace("\n", " ")
    return f"{source}:{where} — invalid YAML: {problem}"


def _env_overrides(
    environ: Mapping[str, str],
) -> tuple[dict[str, Any], dict[tuple[str, ...], str], list[str]]:
    """POLYMM_<SECTION>__<KEY>[__<KEY>...] variables as a nested dict, their sources, and parse problems."""
    tree: dict[str, Any] = {}
    sources: dict[tuple[str, ...], str] = {}
    problems: list[str] = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX):]
        if ENV_PATH_SEPARATOR not in rest:
            problem = _check_name_without_path(name, environ[name])
            if problem is None:  # a whole section given as a mapping: an override like any other
                path = (rest.lower(),)
                tree[path[0]] = _parse_yaml(environ[name])
                sources[path] = name
            elif problem:
                problems.append(problem)
            continue
        path = tuple(part.lower() for part in rest.split(ENV_PATH_SEPARATOR))
        raw = environ[name]
        if not all(path):
            problems.append(f"{name}: {raw!r} — empty key in the name; use POLYMM_<SECTION>__<KEY>")
            continue
        try:
            value = _parse_yaml(raw)
        except yaml.YAMLError as exc:
            problems.append(_describe_yaml_error(f"{'.'.join(path)} (set by {name})", exc))
            continue
        node = tree
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = value
        sources[path] = name
    return tree, sources, problems


# POLYMM_* names that are not settings: the CLI's --config, the alert destinations (credentials, read by
# polymm/telemetry/alerts.py from the environment only), the runtime directory (where this process keeps its
# control socket and account locks, read by polymm/controller/lock.py: a property of the host, not of the
# strategy, and needed by commands that load no config), and knobs of the test suite.
ENV_NOT_SETTINGS = ("POLYMM_CONFIG", "POLYMM_ALERT_WEBHOOK_URL", "POLYMM_TELEGRAM_BOT_TOKEN", "POLYMM_TELEGRAM_CHAT_ID",
                    "POLYMM_RUNTIME_DIR")
ENV_NOT_SETTINGS_PREFIXES = ("POLYMM_TEST_",)


def _check_name_without_path(name: str, raw: str) -> str | None:
    """A POLYMM_ name without `__` is a typo unless it is reserved or names a section holding a mapping.
    Returns "" to skip it, None for a section override, else the problem line. The value of an
    unknown name is never shown: it may be a secret put under the wrong name."""
    upper = name.upper()
    if upper in ENV_NOT_SETTINGS or upper.startswith(ENV_NOT_SETTINGS_PREFIXES):
        return ""
    section = upper[len(ENV_PREFIX):].lower()
    if section in PolymmConfig.model_fields:
        try:
            value = _parse_yaml(raw)
        except yaml.YAMLError:
            value = raw
        if isinstance(value, dict):
            return None
        keys = ", ".join(_allowed_keys((section,)))
        return (f"{section}: {_show(value)} — a section, not a key: set one key as {upper}__<KEY> "
                f"(keys: {keys}) (set by {name})")
    return f"{name}: not a configuration key — {_nearest_env_name(upper)}"


def _env_names(model: type[BaseModel] = None, prefix: str = ENV_PREFIX) -> list[str]:  # type: ignore[assignment]
    """Every override name that sets one key, e.g. POLYMM_STRATEGY__MAX_MARKETS."""
    model = model or PolymmConfig
    names = []
    for field_name, field in model.model_fields.items():
        name = f"{prefix}{field_name.upper()}"
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel) and field.annotation is not ValueRange:
            names += _env_names(field.annotation, name + ENV_PATH_SEPARATOR)
        else:
            names.append(name)
    return names


def _nearest_env_name(upper: str) -> str:
    import difflib

    secret = {name[len("POLYMARKET_"):]: name for name in SECRET_ENV_VARS.values()}
    if upper[len(ENV_PREFIX):] in secret:
        return f"secrets are read from {secret[upper[len(ENV_PREFIX):]]}"
    names = _env_names()
    # compare with single underscores so that one missing `_` of a `__` counts as a small typo
    flat = {n.replace(ENV_PATH_SEPARATOR, "_"): n for n in names}
    close = difflib.get_close_matches(upper.replace(ENV_PATH_SEPARATOR, "_"), list(flat), n=1, cutoff=0.6)
    hint = f"did you mean {flat[close[0]]}?" if close else "overrides are named POLYMM_<SECTION>__<KEY>"
    return f"{hint} (sections and keys are separated by a double underscore)"


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def load_config(
    path: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> PolymmConfig:
    """Read config.yaml (or the built-in defaults), apply POLYMM_* overrides, and validate once."""
    if path is not None:
        data = _read_yaml(Path(path))
    elif DEFAULT_CONFIG_PATH.is_file():
        data = _read_yaml(DEFAULT_CONFIG_PATH)
    else:
        data = {}
    overrides, sources, problems = _env_overrides(os.environ if environ is None else environ)
    config: PolymmConfig | None = None
    (data, overrides), renamed, rename_problems = map_legacy_keys(data, overrides)  # the seed bot's key names
    for note in renamed:
        print(f"config note: {note}", file=sys.stderr)
    problems += rename_problems
    try:
        config = PolymmConfig.model_validate(_deep_merge(data, overrides))
    except ValidationError as exc:
        problems += [_describe(error, sources) for error in exc.errors()]
    if config is None or problems:
        # Raised outside the except block so the ValidationError is not chained onto it.
        raise ConfigError(problems)
    return config


# --- error messages -----------------------------------------------------------------------

_ALLOWED_BY_ERROR_TYPE: Mapping[str, str] = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be ≥ {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be ≤ {le}",
    "literal_error": "must be {expected}",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "tuple_type": "must be a list",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
}


def _describe(error: ErrorDetails, sources: Mapping[tuple[str, ...], str]) -> str:
    """One `<key.path>: <value> — <what is allowed>` line for a pydantic error."""
    loc = tuple(error["loc"])
    if loc and loc[-1] == "[key]":  # a mapping's key was refused (markets.overrides.<id>): name the key itself
        loc = loc[:-1]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if error["type"] == "field_conflict":
        loc, value = (*loc, ctx["field"]), ctx["value"]
        allowed = error["msg"]
    elif error["type"] in ("extra_forbidden", "invalid_key"):
        loc = (*loc[:-1], str(loc[-1]))  # a non-string YAML key such as `2:` is just an unknown key
        allowed = _unknown_key(loc[-1], _allowed_keys(loc[:-1]), section=len(loc) == 1)
    elif error["type"] in _ALLOWED_BY_ERROR_TYPE:
        allowed = _ALLOWED_BY_ERROR_TYPE[error["type"]].format(
            **{key: _show_bound(bound) for key, bound in ctx.items()}
        )
    else:  # our own PydanticCustomError messages are already phrased as "what is allowed"
        allowed = error["msg"]
    setters = [name for path, name in sources.items() if _overlaps(path, loc)]
    if setters:
        allowed += f" (set by {', '.join(setters)})"
    return f"{_key_path(loc)}: {_show(value)} — {allowed}"


def _unknown_key(key: str, allowed: list[str], section: bool) -> str:
    """A misspelt section (`strategey:`) gets the one it resembles, not a list that reads like its keys;
    an unknown key inside a section gets the section's keys."""
    import difflib

    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.8) if section else []
    if close:
        return f"unknown key: did you mean {close[0]}?"
    return f"unknown key (allowed keys: {', '.join(allowed)})"


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = PolymmConfig
    free_key = False  # the part after a mapping field (markets.overrides.<condition id>) is any key
    for part in loc:
        if free_key:
            free_key = False
            continue
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if getattr(annotation, "__origin__", None) is dict:
            model, free_key = annotation.__args__[1], True
            continue
        if not isinstance(annotation, type) or not issubclass(annotation, BaseModel):
            return []
        model = annotation
    return list(model.model_fields)


def _overlaps(path: tuple[str, ...], loc: tuple[int | str, ...]) -> bool:
    # An override explains an error at, above or below the key it set.
    shorter = min(len(path), len(loc))
    return path[:shorter] == tuple(loc[:shorter])


def _key_path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"  # a list index: filters.question_blacklist[0]
        else:
            text += f".{part}" if text else part
    return text or "<top level>"


def _show(value: object) -> str:
    text = _plain_repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _plain_repr(value: object) -> str:
    # Defaults filled into a partial section are Decimals; show them as the numbers a user writes.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {_plain_repr(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_plain_repr(item) for item in value) + "]"
    return repr(value)


def _show_bound(bound: object) -> str:
    if isinstance(bound, float) and bound.is_integer():
        return str(int(bound))
    return str(bound)
