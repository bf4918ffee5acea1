"""Portal's whole OpenID Connect flow driven by authlib, a client library Portal did not write.

discovery -> authorize with PKCE (S256) -> the hosted login form (filled with requests, CSRF field
parsed from the page) -> token -> ID token validated by authlib -> userinfo -> refresh (and the old
refresh token refused) -> RP-initiated logout with a post-logout redirect.

Usage: authlib_flow.py ISSUER CLIENT_ID CLIENT_SECRET EMAIL PASSWORD. Prints one JSON object.
"""

import json
import re
import sys
import warnings
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt
    from authlib.oidc.core import CodeIDToken

issuer, client_id, client_secret, email, password = sys.argv[1:6]
out = {}

discovery = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
out["issuer"] = discovery["issuer"]
redirect_uri = issuer + "/demo/callback"

client = OAuth2Session(
    client_id,
    client_secret,
    scope="openid profile email offline_access",
    redirect_uri=redirect_uri,
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic",
)
code_verifier = generate_token(48)
nonce = generate_token(20)
auth_url, state = client.create_authorization_url(
    discovery["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce
)
out["authorization_url_has_s256"] = "code_challenge_method=S256" in auth_url

# The browser: follow to the hosted login form, fill it in.
browser = requests.Session()
res = browser.get(auth_url, allow_redirects=False, timeout=10)
login_url = urljoin(issuer, res.headers["Location"])
page = browser.get(login_url, timeout=10).text
csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
request_id = re.search(r'name="request" value="([^"]+)"', page).group(1)
res = browser.post(
    issuer + "/a/auth/login",
    data={"csrf": csrf, "email": email, "password": password, "request": request_id},
    allow_redirects=False,
    timeout=10,
)
callback = res.headers["Location"]
out["callback_has_iss"] = parse_qs(urlparse(callback).query).get("iss") == [issuer]

token = client.fetch_token(
    discovery["token_endpoint"],
    authorization_response=callback,
    state=state,
    code_verifier=code_verifier,
)
out["token_type"] = token["token_type"]

jwks = JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"], timeout=10).json())
claims = jwt.decode(
    token["id_token"],
    jwks,
    claims_cls=CodeIDToken,
    claims_options={"iss": {"essential": True, "value": discovery["issuer"]}},
    claims_params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
)
claims.validate()
out["id_token"] = dict(claims)

out["userinfo"] = client.get(discovery["userinfo_endpoint"], timeout=10).json()

old_refresh = token["refresh_token"]
refreshed = client.refresh_token(discovery["token_endpoint"], refresh_token=old_refresh)
out["refreshed"] = "access_token" in refreshed and "id_token" in refreshed
out["refresh_rotated"] = refreshed.get("refresh_token") not in (None, old_refresh)

replay = requests.post(
    discovery["token_endpoint"],
    data={"grant_type": "refresh_token", "refresh_token": old_refresh},
    auth=(client_id, client_secret),
    timeout=10,
)
out["old_refresh"] = {"status": replay.status_code, "error": replay.json().get("error")}

post_logout = issuer + "/demo/"
res = browser.get(
    discovery["end_session_endpoint"],
    params={
        "id_token_hint": refreshed["id_token"],
        "post_logout_redirect_uri": post_logout,
        "state": "logout-state",
    },
    allow_redirects=False,
    timeout=10,
)
out["logout"] = {"status": res.status_code, "location": res.headers.get("Location")}

# Signed out: a silent authorization now answers login_required.
silent_url, _ = client.create_authorization_url(
    discovery["authorization_endpoint"], code_verifier=generate_token(48), nonce=generate_token(8), prompt="none"
)
res = browser.get(silent_url, allow_redirects=False, timeout=10)
out["after_logout"] = parse_qs(urlparse(res.headers["Location"]).query).get("error", [None])[0]

print(json.dumps(out))
