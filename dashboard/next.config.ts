import type { NextConfig } from "next";
import { securityHeaders } from "./lib/security-headers.mjs";

// /api/* goes to the services through proxy.ts (see there why not `rewrites`).
const nextConfig: NextConfig = {
  poweredByHeader: false,
  // CSP, frame-ancestors, Referrer-Policy, HSTS behind HTTPS: see lib/security-headers.mjs.
  async headers() {
    return securityHeaders() as Awaited<ReturnType<NonNullable<NextConfig["headers"]>>>;
  },
  // gzip would hold back server-sent events until a buffer fills; the services are local.
  compress: false,
  experimental: {
    // proxy.ts sees every /api request, so Next buffers its body (10 MB by default, then it
    // cuts it): room for knowledge's 25 MiB uploads, whose own 413 then answers above that.
    proxyClientMaxBodySize: "30mb",
  },
  turbopack: {
    rules: {
      "*.css": {
        loaders: ["@tailwindcss/turbopack"],
        as: "*.css",
      },
    },
  },
};

export default nextConfig;
