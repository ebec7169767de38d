/**
 * How island recognises what it owns (principle: never touch a foreign object).
 * Links carry this IFLA_IFALIAS; routes carry this route protocol number,
 * named "island" in /etc/iproute2/rt_protos.d/island.conf so `ip route` shows it.
 */
export const OWNER_ALIAS = 'island';
export const ROUTE_PROTO = 149;
