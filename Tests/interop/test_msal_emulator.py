"""MSAL for Python (the reference client) against vault-emulator: the emulator must be acceptable to it."""
import json
import base64

import msal
import pytest
import requests

GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]


def make_app(emu, secret=None, tenant=None, cache=None):
    return msal.ConfidentialClientApplication(
        emu.app["client_id"],
        client_credential=secret or emu.app["secret"],
        authority="%s/%s" % (emu.base, tenant or emu.info["tenant_id"]),
        instance_discovery=False,
        token_cache=cache,
    )


def test_acquire_token_then_cache_hit_without_a_request(emulator):
    app = make_app(emulator)
    before = emulator.token_requests()
    first = app.acquire_token_for_client(scopes=GRAPH_SCOPE)
    assert "access_token" in first, first
    assert first["token_source"] == "identity_provider"
    assert first["token_type"] == "Bearer"
    assert emulator.token_requests() == before + 1

    second = app.acquire_token_for_client(scopes=GRAPH_SCOPE)
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]
    assert emulator.token_requests() == before + 1, "a cached token must not cause a token request"


def test_token_is_a_v1_app_token_with_the_apps_roles(emulator):
    result = make_app(emulator).acquire_token_for_client(scopes=GRAPH_SCOPE)
    payload = result["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["tid"] == emulator.info["tenant_id"]
    assert claims["appid"] == emulator.app["client_id"]
    assert claims["iss"] == "https://sts.windows.net/%s/" % emulator.info["tenant_id"]
    assert set(emulator.app["roles"]) == set(claims["roles"])
    assert claims["exp"] - claims["iat"] == 3599 == result["expires_in"]


def test_domain_authority_uses_tenant_guid_as_realm(emulator):
    cache = msal.SerializableTokenCache()
    app = make_app(emulator, tenant=emulator.info["tenant_domain"], cache=cache)
    result = app.acquire_token_for_client(scopes=GRAPH_SCOPE)
    assert "access_token" in result, result
    entries = json.loads(cache.serialize())["AccessToken"]
    assert [e["realm"] for e in entries.values()] == [emulator.info["tenant_id"]]
    assert all(e["environment"] == "127.0.0.1" for e in entries.values())


def test_wrong_secret_yields_aadsts7000215(emulator):
    result = make_app(emulator, secret="Wrong8Q~notthesecretnotthesecretnotthesec").acquire_token_for_client(scopes=GRAPH_SCOPE)
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]
    assert result["error_description"].startswith("AADSTS7000215:")
    assert "correlation_id" in result


def test_scope_without_default_yields_1002012(emulator):
    result = make_app(emulator).acquire_token_for_client(scopes=["https://graph.microsoft.com/User.Read.All"])
    assert result["error"] == "invalid_scope"
    assert 1002012 in result["error_codes"]


def test_unknown_tenant_fails_discovery_like_entra(emulator):
    with pytest.raises(ValueError):
        make_app(emulator, tenant="99999999-9999-9999-9999-999999999999")


def test_long_lived_tokens_get_refresh_in_and_msal_records_refresh_on(emulator):
    emulator.admin("POST", "/settings", {"token_lifetime": 7200})
    try:
        cache = msal.SerializableTokenCache()
        result = make_app(emulator, cache=cache).acquire_token_for_client(scopes=GRAPH_SCOPE)
        assert result["expires_in"] == 7200
        entry = list(json.loads(cache.serialize())["AccessToken"].values())[0]
        assert int(entry["refresh_on"]) - int(entry["cached_at"]) == 3600
    finally:
        emulator.admin("POST", "/settings", {"token_lifetime": 3599})


def test_tutorial_flow_lists_every_user_over_several_pages(emulator):
    """The MSAL tutorial's daemon: token, then GET /users following @odata.nextLink with requests."""
    token = make_app(emulator).acquire_token_for_client(scopes=GRAPH_SCOPE)["access_token"]
    url = emulator.base + "/v1.0/users?$top=100"
    users, pages = [], 0
    while url:
        r = requests.get(url, headers={"Authorization": "Bearer " + token}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/json;odata.metadata=minimal")
        assert r.headers.get("Content-Encoding") == "gzip"
        body = r.json()
        users.extend(body["value"])
        url = body.get("@odata.nextLink")
        pages += 1
    assert pages == 3
    assert len(users) == 250
    assert len({u["id"] for u in users}) == 250
    assert list(users[0].keys()) == ["businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                                     "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"]
    assert users[0]["displayName"] == "MOD Administrator"
    assert any("#EXT#" in u["userPrincipalName"] for u in users)
