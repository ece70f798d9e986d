//! Each token check, on tokens signed here with fixed test keys (RSA, PKCS#1 PEM).

use std::str::FromStr;

use openidconnect::core::{CoreJsonWebKey, CoreRsaPrivateSigningKey};
use openidconnect::{
    Audience, EndUserEmail, EndUserUsername, JsonWebKeyId, PrivateSigningKey, StandardClaims,
    SubjectIdentifier,
};

use super::*;

const KEY_A: &str = include_str!("test_key_a.pem");
const KEY_B: &str = include_str!("test_key_b.pem");
const ISSUER: &str = "https://id.example.com/realms/sales";
const TEMPLATE: &str = "https://login.example.com/{tenantid}/v2.0";
const CLIENT: &str = "pipelog";
const NONCE: &str = "n-0S6_WzA2Mj";

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).expect("valid")
}

fn key(pem: &str, kid: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.into()))).expect("test key")
}

fn published(keys: &[&CoreRsaPrivateSigningKey]) -> CoreJsonWebKeySet {
    CoreJsonWebKeySet::new(
        keys.iter()
            .map(|key| -> CoreJsonWebKey { key.as_verification_key() })
            .collect(),
    )
}

fn checks() -> TokenChecks {
    TokenChecks {
        client_id: CLIENT.into(),
        issuer: IssuerRule::Exact(ISSUER.into()),
        algorithms: vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        allowed_tenants: Vec::new(),
        allowed_domains: Vec::new(),
        microsoft: false,
        clock_skew: CLOCK_SKEW,
    }
}

fn entra(tenant: &str) -> TokenChecks {
    TokenChecks {
        issuer: IssuerRule::Templated(TEMPLATE.into()),
        allowed_tenants: vec![tenant.into()],
        allowed_domains: vec!["example.com".into()],
        microsoft: true,
        ..checks()
    }
}

fn at(offset_seconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono_time(now() + jiff::SignedDuration::from_secs(offset_seconds))
}

/// A token as a provider would send it: issued now, valid for an hour, for `pipelog`.
fn claims() -> IdTokenClaims {
    claims_with(TenantClaims::default())
}

fn claims_with(extra: TenantClaims) -> IdTokenClaims {
    IdTokenClaims::new(
        IssuerUrl::new(ISSUER.into()).expect("url"),
        vec![Audience::new(CLIENT.into())],
        at(3_600),
        at(0),
        StandardClaims::new(SubjectIdentifier::new("subject-1".into()))
            .set_email(Some(EndUserEmail::new("Ana@Example.com".into())))
            .set_email_verified(Some(true)),
        extra,
    )
    .set_nonce(Some(Nonce::new(NONCE.into())))
}

fn signed(claims: IdTokenClaims, key: &CoreRsaPrivateSigningKey) -> IdToken {
    IdToken::new(
        claims,
        key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .expect("signs")
}

fn verify(token: &IdToken, checks: &TokenChecks) -> Result<VerifiedSignIn, TokenRejected> {
    let a = key(KEY_A, "a");
    verify_id_token(
        token,
        &published(&[&a]),
        checks,
        &Nonce::new(NONCE.into()),
        now(),
    )
}

/// As Entra ID sends it: tenant-specific issuer, object id, no `email`, the UPN as username.
fn entra_claims(tenant: &str, issuer_tenant: &str) -> IdTokenClaims {
    entra_claims_with(
        issuer_tenant,
        TenantClaims {
            tid: Some(tenant.into()),
            oid: Some("object-1".into()),
            nbf: None,
        },
    )
}

fn entra_claims_with(issuer_tenant: &str, extra: TenantClaims) -> IdTokenClaims {
    claims_with(extra)
        .set_issuer(
            IssuerUrl::new(TEMPLATE.replace(TENANT_PLACEHOLDER, issuer_tenant)).expect("url"),
        )
        .set_email(None)
        .set_email_verified(None)
        .set_preferred_username(Some(EndUserUsername::new("ana@example.com".into())))
}

#[test]
fn a_good_token_names_the_subject_and_its_verified_email() {
    let a = key(KEY_A, "a");
    let signed_in = verify(&signed(claims(), &a), &checks()).expect("accepted");
    assert_eq!(
        signed_in.identity,
        ExternalIdentity {
            issuer: ISSUER.into(),
            subject: "subject-1".into()
        }
    );
    assert_eq!(signed_in.email.as_deref(), Some("ana@example.com"));
    assert!(signed_in.email_vouched);
}

#[test]
fn an_unverified_email_is_not_vouched_for() {
    let a = key(KEY_A, "a");
    let token = signed(claims().set_email_verified(Some(false)), &a);
    let signed_in = verify(&token, &checks()).expect("accepted");
    assert!(!signed_in.email_vouched);
    let token = signed(claims().set_email_verified(None), &a);
    assert!(!verify(&token, &checks()).expect("accepted").email_vouched);
}

#[test]
fn a_token_for_another_application_is_refused() {
    let a = key(KEY_A, "a");
    let token = signed(
        claims().set_audiences(vec![Audience::new("someone-else".into())]),
        &a,
    );
    assert!(matches!(
        verify(&token, &checks()),
        Err(TokenRejected::Audience(_))
    ));
    // An authorized party other than pipelog, even with pipelog as the audience.
    let token = signed(
        claims().set_authorized_party(Some(ClientId::new("someone-else".into()))),
        &a,
    );
    assert!(matches!(
        verify(&token, &checks()),
        Err(TokenRejected::Audience(_))
    ));
    let token = signed(
        claims().set_authorized_party(Some(ClientId::new(CLIENT.into()))),
        &a,
    );
    assert!(verify(&token, &checks()).is_ok(), "azp naming pipelog");
    // Several audiences: `azp` must name pipelog, and no audience may be one pipelog does not trust.
    let several = claims().set_audiences(vec![
        Audience::new(CLIENT.into()),
        Audience::new("someone-else".into()),
    ]);
    let token = signed(several.clone(), &a);
    assert!(verify(&token, &checks()).is_err(), "no azp");
    let token = signed(
        several.set_authorized_party(Some(ClientId::new(CLIENT.into()))),
        &a,
    );
    assert!(
        matches!(verify(&token, &checks()), Err(TokenRejected::Audience(_))),
        "an untrusted second audience"
    );
}

#[test]
fn an_expired_token_is_refused_beyond_the_clock_skew() {
    let a = key(KEY_A, "a");
    let token = signed(
        claims().set_expiration(at(-120)).set_issue_time(at(-3_720)),
        &a,
    );
    assert!(matches!(
        verify(&token, &checks()),
        Err(TokenRejected::Expired(_))
    ));
    let token = signed(
        claims().set_expiration(at(-30)).set_issue_time(at(-3_630)),
        &a,
    );
    assert!(
        verify(&token, &checks()).is_ok(),
        "30 s late is within the skew"
    );
}

#[test]
fn a_token_from_the_future_is_refused_beyond_the_clock_skew() {
    let a = key(KEY_A, "a");
    let token = signed(claims().set_issue_time(at(300)), &a);
    assert!(matches!(
        verify(&token, &checks()),
        Err(TokenRejected::NotYetValid(_))
    ));
    let token = signed(claims().set_issue_time(at(30)), &a);
    assert!(
        verify(&token, &checks()).is_ok(),
        "30 s early is within the skew"
    );
    let not_before = |seconds: i64| TenantClaims {
        nbf: Some((now() + jiff::SignedDuration::from_secs(seconds)).as_second()),
        ..TenantClaims::default()
    };
    let token = signed(claims_with(not_before(300)), &a);
    assert!(matches!(
        verify(&token, &checks()),
        Err(TokenRejected::NotYetValid(_))
    ));
    let token = signed(claims_with(not_before(30)), &a);
    assert!(verify(&token, &checks()).is_ok());
}

#[test]
fn a_bad_signature_an_unknown_key_and_unannounced_algorithms_are_refused() {
    let a = key(KEY_A, "a");
    let text = signed(claims(), &a).to_string();
    let (unsigned, signature) = text.rsplit_once('.').expect("a JWS");
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let tampered = IdToken::from_str(&format!("{unsigned}.{flipped}{}", &signature[1..]))
        .expect("still parses");
    assert!(matches!(
        verify(&tampered, &checks()),
        Err(TokenRejected::Signature(_))
    ));

    let b = key(KEY_B, "b");
    assert_eq!(
        verify(&signed(claims(), &b), &checks()),
        Err(TokenRejected::UnknownKey)
    );
    // Key b, but claiming to be key a: the signature does not verify with a's key.
    let b_as_a = key(KEY_B, "a");
    assert!(matches!(
        verify(&signed(claims(), &b_as_a), &checks()),
        Err(TokenRejected::Signature(_))
    ));

    let (_, payload_and_signature) = text.split_once('.').expect("a JWS");
    let (payload, _) = payload_and_signature.split_once('.').expect("a JWS");
    // {"alg":"none"} and {"alg":"HS256"}: neither is accepted, whatever follows.
    for header in ["eyJhbGciOiJub25lIn0", "eyJhbGciOiJIUzI1NiJ9"] {
        let forged = format!("{header}.{payload}.{signature}");
        let refused = match IdToken::from_str(&forged) {
            Ok(token) => verify(&token, &checks()).is_err(),
            Err(_) => true,
        };
        assert!(refused, "{header}");
    }
    let announced = [
        CoreJwsSigningAlgorithm::None,
        CoreJwsSigningAlgorithm::HmacSha256,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    ];
    assert_eq!(
        asymmetric(&announced),
        vec![
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256
        ]
    );
    let ecdsa_only = TokenChecks {
        algorithms: vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256],
        ..checks()
    };
    assert!(
        matches!(
            verify(&signed(claims(), &a), &ecdsa_only),
            Err(TokenRejected::Signature(_))
        ),
        "RS256 when the provider announces only ES256"
    );
}

#[test]
fn a_tampered_nonce_and_another_issuer_are_refused() {
    let a = key(KEY_A, "a");
    let token = signed(claims().set_nonce(Some(Nonce::new("other".into()))), &a);
    assert!(matches!(
        verify(&token, &checks()),
        Err(TokenRejected::Nonce(_))
    ));
    let token = signed(claims().set_nonce(None), &a);
    assert!(matches!(
        verify(&token, &checks()),
        Err(TokenRejected::Nonce(_))
    ));
    let token = signed(
        claims().set_issuer(IssuerUrl::new("https://evil.example.com".into()).expect("url")),
        &a,
    );
    assert!(matches!(
        verify(&token, &checks()),
        Err(TokenRejected::Issuer(_))
    ));
}

#[test]
fn a_templated_issuer_needs_the_tokens_own_allowed_tenant() {
    let a = key(KEY_A, "a");
    let token = signed(entra_claims("tenant-1", "tenant-1"), &a);
    let signed_in = verify(&token, &entra("tenant-1")).expect("accepted");
    assert_eq!(signed_in.tenant.as_deref(), Some("tenant-1"));
    assert_eq!(
        signed_in.identity,
        ExternalIdentity {
            issuer: TEMPLATE.replace(TENANT_PLACEHOLDER, "tenant-1"),
            subject: "object-1".into(),
        },
        "Entra's subject is the object id"
    );
    assert_eq!(
        verify(&token, &entra("tenant-2")),
        Err(TokenRejected::TenantNotAllowed("tenant-1".into()))
    );
    let elsewhere = signed(entra_claims("tenant-1", "tenant-2"), &a);
    assert!(
        matches!(
            verify(&elsewhere, &entra("tenant-1")),
            Err(TokenRejected::Issuer(_))
        ),
        "the issuer names another tenant than tid"
    );
    let no_tenant = signed(entra_claims_with("tenant-1", TenantClaims::default()), &a);
    assert_eq!(
        verify(&no_tenant, &entra("tenant-1")),
        Err(TokenRejected::TenantMissing)
    );
    let exact_with_tenants = TokenChecks {
        allowed_tenants: vec!["tenant-2".into()],
        ..checks()
    };
    assert_eq!(
        verify(&signed(claims(), &a), &exact_with_tenants),
        Err(TokenRejected::TenantMissing),
        "allowed tenants apply to a tenant-specific issuer too"
    );
}

#[test]
fn an_entra_email_is_vouched_for_only_by_an_allowed_domain() {
    let a = key(KEY_A, "a");
    let token = signed(entra_claims("tenant-1", "tenant-1"), &a);
    let signed_in = verify(&token, &entra("tenant-1")).expect("accepted");
    assert_eq!(signed_in.email.as_deref(), Some("ana@example.com"));
    assert!(
        signed_in.email_vouched,
        "from preferred_username, in an allowed domain"
    );
    let any_domain = TokenChecks {
        allowed_domains: Vec::new(),
        ..entra("tenant-1")
    };
    let claimed = signed(
        entra_claims("tenant-1", "tenant-1")
            .set_email(Some(EndUserEmail::new("ana@example.com".into())))
            .set_email_verified(Some(true)),
        &a,
    );
    assert!(
        !verify(&claimed, &any_domain)
            .expect("accepted")
            .email_vouched,
        "Entra's email claim alone is not proof"
    );
    let other = signed(
        entra_claims("tenant-1", "tenant-1")
            .set_preferred_username(Some(EndUserUsername::new("eve@elsewhere.org".into()))),
        &a,
    );
    assert_eq!(
        verify(&other, &entra("tenant-1")),
        Err(TokenRejected::DomainNotAllowed("elsewhere.org".into()))
    );
    let no_oid = signed(
        entra_claims_with(
            "tenant-1",
            TenantClaims {
                tid: Some("tenant-1".into()),
                ..TenantClaims::default()
            },
        ),
        &a,
    );
    assert!(matches!(
        verify(&no_oid, &entra("tenant-1")),
        Err(TokenRejected::Malformed(_))
    ));
    let generic_with_domains = TokenChecks {
        allowed_domains: vec!["example.org".into()],
        ..checks()
    };
    assert_eq!(
        verify(&signed(claims(), &a), &generic_with_domains),
        Err(TokenRejected::DomainNotAllowed("example.com".into()))
    );
}
