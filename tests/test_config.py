"""Tests for polymm.config: defaults, one-line error messages, environment overrides, secrets."""

from __future__ import annotations

import secrets
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from polymm import config as config_module
from polymm.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    PolymmConfig,
    Secrets,
    ValueRange,
    load_config,
    load_secrets,
)

DOCS_PATH = Path(__file__).resolve().parent.parent / "docs" / "CONFIG.md"
STRATEGY_KEYS = (
    "order_size_multiplier, max_exposure_per_market_usdc, max_total_exposure_usdc, max_markets, "
    "min_reward_ratio, min_profit_margin_bps, ranking, quote_placement, sizing, toxic_pause_seconds, toxic_jump, merge_pairs, "
    "jump_memory_seconds, jump_size, jump_scope, max_jump_rate, trend_window_seconds, trend_move"
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ or {})
    return caught.value.problems


def _key_paths(model: type[BaseModel], prefix: str = "", stop_at: tuple[type, ...] = ()) -> set[str]:
    paths: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation not in stop_at:
            paths |= _key_paths(annotation, f"{prefix}{name}.", stop_at)
        else:
            paths.add(f"{prefix}{name}")
    return paths


def _yaml_leaf_paths(tree: dict, prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in tree.items():
        if isinstance(value, dict) and value:  # an empty mapping ({}) is a key's value, e.g. markets.overrides
            paths |= _yaml_leaf_paths(value, f"{prefix}{key}.")
        else:
            paths.add(f"{prefix}{key}")
    return paths


# --- defaults -------------------------------------------------------------------------------


def test_default_config_file_loads() -> None:
    config = load_config(environ={})
    assert config.venue.mode == "embedded-sim"
    assert config.loop.price_deviation_threshold_bps == Decimal("0.0001")
    assert config.filters.question_blacklist == ("Trump",)


def test_model_defaults_equal_config_yaml() -> None:
    assert load_config(DEFAULT_CONFIG_PATH, environ={}) == PolymmConfig()


def test_config_yaml_lists_every_key_and_nothing_else() -> None:
    tree = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    assert _yaml_leaf_paths(tree) == _key_paths(PolymmConfig)


def test_config_reference_documents_every_key() -> None:
    docs = DOCS_PATH.read_text(encoding="utf-8")
    missing = [path for path in _key_paths(PolymmConfig, stop_at=(ValueRange,)) if f"`{path}`" not in docs]
    assert missing == []


def test_without_a_config_file_the_built_in_defaults_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", tmp_path / "absent.yaml")
    assert load_config(environ={}) == PolymmConfig()


def test_price_values_are_exact_decimals() -> None:
    config = load_config(environ={})
    assert config.risk.price_cliff_threshold == Decimal("0.05")
    assert config.filters.spread_range == ValueRange(max=Decimal("0.05"))


def test_config_is_frozen() -> None:
    config = PolymmConfig()
    with pytest.raises(ValidationError):
        config.strategy.max_markets = 3  # type: ignore[misc]


def test_partial_range_keeps_the_default_bound(tmp_path: Path) -> None:
    path = _write(tmp_path, "filters:\n  spread_range: {min: 0.01}\n")
    assert load_config(path, environ={}).filters.spread_range == ValueRange(
        min=Decimal("0.01"), max=Decimal("0.05")
    )


def test_value_range_bounds_are_inclusive() -> None:
    band = ValueRange(min=Decimal("5"), max=Decimal("20"))
    assert band.contains(Decimal("5")) and band.contains(Decimal("20"))
    assert not band.contains(Decimal("4.99")) and not band.contains(Decimal("20.01"))
    assert ValueRange().contains(Decimal("1e9"))


# --- error messages ---------------------------------------------------------------------------

BAD_VALUES = [
    pytest.param(
        "risk:\n  price_cliff_threshold: -1\n",
        "risk.price_cliff_threshold: -1 — must be > 0",
        id="negative-threshold",
    ),
    pytest.param(
        "risk:\n  price_cliff_threshold: 1.5\n",
        "risk.price_cliff_threshold: 1.5 — must be < 1",
        id="threshold-not-a-probability",
    ),
    pytest.param(
        "filters:\n  spread_range: {min: 0.2, max: 0.1}\n",
        "filters.spread_range: {'min': 0.2, 'max': 0.1} — min must be ≤ max",
        id="range-min-above-max",
    ),
    pytest.param(
        "filters:\n  rate_per_day_range: {max: 2}\n",
        "filters.rate_per_day_range: {'min': 5, 'max': 2} — min must be ≤ max",
        id="range-max-below-default-min",
    ),
    pytest.param(
        "strategy:\n  max_marketz: 3\n",
        f"strategy.max_marketz: 3 — unknown key (allowed keys: {STRATEGY_KEYS})",
        id="unknown-key",
    ),
    pytest.param(
        "strategy:\n  ranking: best\n",
        "strategy.ranking: 'best' — must be 'expected_reward' or 'original_ratio'",
        id="bad-enum",
    ),
    pytest.param(
        "venue:\n  sim:\n    scenario: stormy\n",
        "venue.sim.scenario: 'stormy' — must be 'calm', 'trending' or 'jumpy'",
        id="bad-nested-enum",
    ),
    pytest.param(
        "strategy:\n  max_markets: ten\n",
        "strategy.max_markets: 'ten' — must be a whole number",
        id="string-for-int",
    ),
    pytest.param(
        "strategy:\n  max_markets: 2.5\n",
        "strategy.max_markets: 2.5 — must be a whole number",
        id="float-for-int",
    ),
    pytest.param(
        "strategy:\n  order_size_multiplier: '2'\n",
        "strategy.order_size_multiplier: '2' — must be a number",
        id="quoted-number",
    ),
    pytest.param(
        "hedge_sell:\n  dynamic_follow_enabled: 1\n",
        "hedge_sell.dynamic_follow_enabled: 1 — must be true or false",
        id="int-for-bool",
    ),
    pytest.param(
        "loop:\n  order_check_interval_seconds: 0\n",
        "loop.order_check_interval_seconds: 0 — must be > 0",
        id="zero-interval",
    ),
    pytest.param(
        "venue:\n  signature_type: 4\n",
        "venue.signature_type: 4 — must be 0, 1, 2 or 3",
        id="bad-signature-type",
    ),
    pytest.param(
        "venue:\n  clob_url: clob.polymarket.com\n",
        "venue.clob_url: 'clob.polymarket.com' — must be a URL starting with http:// or https://",
        id="url-without-scheme",
    ),
    pytest.param(
        "controller:\n  heartbeat_interval_seconds: 15\n",
        "controller.heartbeat_interval_seconds: 15 — must be < 10",
        id="heartbeat-slower-than-venue-timeout",
    ),
    pytest.param(
        "strategy:\n  max_exposure_per_market_usdc: 300\n",
        "strategy.max_exposure_per_market_usdc: 300 — must be ≤ strategy.max_total_exposure_usdc (250)",
        id="market-cap-above-total-cap",
    ),
    pytest.param(
        "filters:\n  question_blacklist: Trump\n",
        "filters.question_blacklist: 'Trump' — must be a list",
        id="scalar-for-list",
    ),
    pytest.param(
        "filters:\n  question_blacklist: [Trump, 3]\n",
        "filters.question_blacklist[1]: 3 — must be a string",
        id="bad-list-item",
    ),
    pytest.param(
        "loop: 5\n",
        "loop: 5 — must be a mapping of keys to values",
        id="scalar-for-section",
    ),
    pytest.param(
        "logging:\n  level: info\n",
        "logging.level: 'info' — must be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'",
        id="lowercase-log-level",
    ),
]


@pytest.mark.parametrize(("yaml_text", "expected"), BAD_VALUES)
def test_bad_value_is_one_line_naming_key_value_and_what_is_allowed(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    assert _problems(_write(tmp_path, yaml_text)) == [expected]


def test_a_misspelt_section_gets_the_section_it_resembles_and_an_unknown_one_the_list(tmp_path: Path) -> None:
    [problem] = _problems(_write(tmp_path, "stratgy:\n  max_markets: 3\n"))
    assert problem == "stratgy: {'max_markets': 3} — unknown key: did you mean strategy?"
    [problem] = _problems(_write(tmp_path, "bogus:\n  max_markets: 3\n"))
    assert problem == (
        "bogus: {'max_markets': 3} — unknown key (allowed keys: strategy, risk, hedge_sell, filters, markets, "
        "loop, orderbook_service, venue, ledger, logging, retries, controller, alerts)"
    )


def test_every_problem_is_reported_and_str_joins_them(tmp_path: Path) -> None:
    path = _write(tmp_path, "risk:\n  price_cliff_threshold: -1\nstrategy:\n  ranking: best\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert len(caught.value.problems) == 2
    assert str(caught.value) == "\n".join(caught.value.problems)
    assert all("\n" not in problem for problem in caught.value.problems)


def test_missing_explicit_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "polymm.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing, environ={})
    assert caught.value.problems == [f"{missing}: file not found — give an existing config file"]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "strategy:\n  max_markets: 3\n  ranking: [expected_reward\n")
    [problem] = _problems(path)
    assert problem.startswith(f"{path}: line 4, column 1 — invalid YAML: ")


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "strategy:\n  max_markets: 3\n  max_markets: 4\n")
    assert _problems(path) == [f"{path}: line 3, column 3 — invalid YAML: duplicate key 'max_markets'"]


def test_empty_file_means_all_defaults(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "# nothing set\n"), environ={}) == PolymmConfig()


# --- environment overrides --------------------------------------------------------------------


def test_env_overrides_nested_keys_and_lists() -> None:
    config = load_config(
        environ={
            "POLYMM_VENUE__MODE": "remote",
            "POLYMM_VENUE__CLOB_URL": "http://127.0.0.1:8080",
            "POLYMM_VENUE__SIM__SEED": "7",
            "POLYMM_FILTERS__QUESTION_BLACKLIST": '["a","b"]',
            "POLYMM_FILTERS__SPREAD_RANGE__MAX": "null",
            "POLYMM_ORDERBOOK_SERVICE__ENABLED": "true",
            "POLYMM_LOOP__PRICE_DEVIATION_THRESHOLD_BPS": "0.001",
        }
    )
    assert config.venue.mode == "remote"
    assert config.venue.clob_url == "http://127.0.0.1:8080"
    assert config.venue.sim.seed == 7
    assert config.venue.sim.scenario == "calm"  # siblings of an overridden key keep their values
    assert config.filters.question_blacklist == ("a", "b")
    assert config.filters.spread_range == ValueRange()
    assert config.orderbook_service.enabled is True
    assert config.loop.price_deviation_threshold_bps == Decimal("0.001")


def test_env_override_names_are_case_insensitive() -> None:
    assert load_config(environ={"polymm_Strategy__Max_Markets": "4"}).strategy.max_markets == 4


def test_env_override_wins_over_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "strategy:\n  max_markets: 3\n")
    assert load_config(path, environ={"POLYMM_STRATEGY__MAX_MARKETS": "5"}).strategy.max_markets == 5


def test_env_override_of_unknown_key_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"POLYMM_STRATEGY__MAX_MARKETZ": "3"})
    assert caught.value.problems == [
        f"strategy.max_marketz: 3 — unknown key (allowed keys: {STRATEGY_KEYS}) "
        "(set by POLYMM_STRATEGY__MAX_MARKETZ)"
    ]


def test_env_override_of_unknown_section_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"POLYMM_VENUES__MODE": "remote"})
    [problem] = caught.value.problems
    assert problem.startswith("venues: {'mode': 'remote'} — unknown key: did you mean venue?")
    assert problem.endswith("(set by POLYMM_VENUES__MODE)")


def test_bad_env_override_value_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"POLYMM_VENUE__MODE": "cloud"})
    assert caught.value.problems == [
        "venue.mode: 'cloud' — must be 'embedded-sim' or 'remote' (set by POLYMM_VENUE__MODE)"
    ]


def test_env_override_that_is_not_yaml_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"POLYMM_FILTERS__QUESTION_BLACKLIST": '["a", "b"'})
    [problem] = caught.value.problems
    assert problem.startswith(
        "filters.question_blacklist (set by POLYMM_FILTERS__QUESTION_BLACKLIST): line 1, column "
    )
    assert " — invalid YAML: " in problem


def test_reserved_env_names_are_not_overrides() -> None:
    # POLYMM_CONFIG is the CLI's --config; POLYMM_TEST_* belong to the test suite
    environ = {"POLYMM_CONFIG": "/etc/polymm.yaml", "POLYMM_TEST_REDIS_URL": "redis://x", "OTHER__X": "1"}
    assert load_config(environ=environ) == PolymmConfig()


def test_alert_destinations_are_not_taken_for_typos() -> None:
    from polymm.telemetry import alerts

    environ = {alerts.WEBHOOK_ENV: "https://hooks.example/x", alerts.TELEGRAM_TOKEN_ENV: "1:abc",
               alerts.TELEGRAM_CHAT_ENV: "42"}
    assert load_config(environ=environ) == load_config(environ={})


def test_env_name_with_one_underscore_is_refused_with_the_nearest_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"POLYMM_STRATEGY_MAX_MARKETS": "abc"})
    assert caught.value.problems == [
        "POLYMM_STRATEGY_MAX_MARKETS: not a configuration key — did you mean POLYMM_STRATEGY__MAX_MARKETS? "
        "(sections and keys are separated by a double underscore)"
    ]


def test_env_name_of_a_section_with_a_scalar_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"POLYMM_STRATEGY": "5"})
    assert caught.value.problems == [
        f"strategy: 5 — a section, not a key: set one key as POLYMM_STRATEGY__<KEY> (keys: {STRATEGY_KEYS}) "
        "(set by POLYMM_STRATEGY)"
    ]


def test_env_name_of_a_section_with_a_mapping_overrides_its_keys() -> None:
    config = load_config(environ={"POLYMM_STRATEGY": "{max_markets: 3}"})
    assert config.strategy.max_markets == 3
    assert config.strategy.ranking == "expected_reward"


def test_unknown_env_name_never_shows_its_value() -> None:
    # a key put under the wrong name must not end up in the journal
    key = _random_private_key()
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"POLYMM_PRIVATE_KEY": key})
    assert caught.value.problems == ["POLYMM_PRIVATE_KEY: not a configuration key — secrets are read from POLYMARKET_PRIVATE_KEY"]
    assert key[2:12] not in str(caught.value)


def test_every_key_has_an_env_name_that_loads() -> None:
    names = config_module._env_names()
    assert "POLYMM_VENUE__SIM__SEED" in names and "POLYMM_FILTERS__SPREAD_RANGE" in names
    for name in names:
        with pytest.raises(ConfigError) as caught:
            load_config(environ={name: "[[not a value of any key"})
        assert all("not a configuration key" not in p for p in caught.value.problems), name


# --- secrets --------------------------------------------------------------------------------


def _random_private_key() -> str:
    return "0x" + secrets.token_hex(32)


def test_secrets_are_read_from_the_environment() -> None:
    key = _random_private_key()
    loaded = load_secrets(
        {"POLYMARKET_PRIVATE_KEY": key, "POLYMARKET_API_KEY": "k", "POLYMARKET_API_PASSPHRASE": ""}
    )
    assert loaded.private_key is not None and loaded.private_key.get_secret_value() == key
    assert loaded.api_key is not None and loaded.api_key.get_secret_value() == "k"
    assert loaded.api_passphrase is None  # empty counts as unset
    assert load_secrets({}) == Secrets()


def test_secrets_never_appear_in_repr_or_str() -> None:
    key = _random_private_key()
    api_secret = secrets.token_urlsafe(32)
    environ = {"POLYMARKET_PRIVATE_KEY": key, "POLYMARKET_API_SECRET": api_secret}
    loaded = load_secrets(environ)
    config = load_config(environ=environ)
    for text in (repr(loaded), str(loaded), repr(config), str(config), str(loaded.model_dump())):
        assert key not in text and key[2:] not in text
        assert api_secret not in text


def test_malformed_private_key_is_reported_without_its_value() -> None:
    bad_key = _random_private_key()[:-1] + "g"
    with pytest.raises(ConfigError) as caught:
        load_secrets({"POLYMARKET_PRIVATE_KEY": bad_key})
    assert caught.value.problems == [
        "POLYMARKET_PRIVATE_KEY: <hidden> — must be 64 hex digits, with or without a leading 0x"
    ]
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    with pytest.raises(ValidationError) as direct:
        Secrets(private_key=bad_key)  # type: ignore[arg-type]
    assert bad_key[2:10] not in str(direct.value)


def test_private_key_without_0x_prefix_is_accepted_and_normalised() -> None:
    # wallets (MetaMask's "export private key") give the 64 hex digits without 0x
    digits = secrets.token_hex(32)
    loaded = load_secrets({"POLYMARKET_PRIVATE_KEY": digits.upper()})
    assert loaded.private_key is not None and loaded.private_key.get_secret_value() == "0x" + digits


@pytest.mark.parametrize("key", ["0x" + "0" * 64, "0" * 64, "f" * 64], ids=["zero", "zero-no-0x", "above-curve-order"])
def test_private_key_that_cannot_sign_is_refused(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_secrets({"POLYMARKET_PRIVATE_KEY": key})
    assert caught.value.problems == [
        "POLYMARKET_PRIVATE_KEY: <hidden> — is not a usable secp256k1 key (zero, or not below the curve order)"
    ]


def test_private_key_of_wrong_length_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_secrets({"POLYMARKET_PRIVATE_KEY": secrets.token_hex(31)})
    assert caught.value.problems == [
        "POLYMARKET_PRIVATE_KEY: <hidden> — must be 64 hex digits, with or without a leading 0x"
    ]


def test_config_ignores_secret_variables_and_yaml_cannot_hold_them(tmp_path: Path) -> None:
    path = _write(tmp_path, "venue:\n  private_key: '0xabc'\n")
    [problem] = _problems(path)
    assert problem.startswith("venue.private_key: '0xabc' — unknown key")
