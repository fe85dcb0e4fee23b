export default function AuthLayout({ children }: { children: React.ReactNode }) {
  return (
    <main className="flex min-h-dvh items-center justify-center bg-zinc-50 px-4 py-10">
      <div className="w-full max-w-sm">
        <div className="mb-6 flex items-center justify-center gap-2.5">
          <div className="grid h-9 w-9 place-items-center rounded-lg bg-emerald-500 text-white">
            <svg viewBox="0 0 24 24" className="h-5 w-5" fill="none" stroke="currentColor" strokeWidth={2} aria-hidden>
              <path d="M4 20l1.3-3.9A8 8 0 1 1 8 19l-4 1Z" strokeLinejoin="round" />
            </svg>
          </div>
          <span className="text-base font-semibold text-zinc-900">WhatsApp AI support</span>
        </div>
        {children}
      </div>
    </main>
  );
}
