package io.isthmus.proxy.testing;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSSigner;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.ECKeyGenerator;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Map;

/** An issuer's keys, generated per test, and tokens signed with them. */
public final class TestJwts {

  public final RSAKey rsa;
  public final ECKey ec;

  public TestJwts(String rsaKid, String ecKid) {
    try {
      rsa = new RSAKeyGenerator(2048).keyID(rsaKid).generate();
      ec = new ECKeyGenerator(Curve.P_256).keyID(ecKid).generate();
    } catch (JOSEException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The public JWKS, as an issuer publishes it. */
  public String jwks() {
    return new JWKSet(List.<JWK>of(rsa.toPublicJWK(), ec.toPublicJWK())).toString();
  }

  /** Claims valid for an hour from {@code now}, plus {@code extra}. */
  public static JWTClaimsSet.Builder claims(String iss, String sub, Instant now) {
    return new JWTClaimsSet.Builder().issuer(iss).subject(sub)
        .issueTime(Date.from(now)).notBeforeTime(Date.from(now))
        .expirationTime(Date.from(now.plusSeconds(3600)));
  }

  public String rs256(JWTClaimsSet claims) {
    return sign(JWSAlgorithm.RS256, rsa.getKeyID(), claims, rsa);
  }

  public String es256(JWTClaimsSet claims) {
    return sign(JWSAlgorithm.ES256, ec.getKeyID(), claims, ec);
  }

  public static String sign(JWSAlgorithm alg, String kid, JWTClaimsSet claims, JWK key) {
    try {
      JWSSigner signer = key instanceof RSAKey r ? new RSASSASigner(r) : new ECDSASigner((ECKey) key);
      SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(alg).keyID(kid).build(), claims);
      jwt.sign(signer);
      return jwt.serialize();
    } catch (JOSEException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A payload with {@code claims} and a given issuer, for tables. */
  public static JWTClaimsSet with(JWTClaimsSet.Builder base, Map<String, Object> claims) {
    claims.forEach(base::claim);
    return base.build();
  }
}
