import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { Navigate, useLocation, useNavigate } from "react-router-dom";
import { ApiError, api, setUnauthorizedHandler } from "./api";
import type { Me } from "./types";

interface AuthState {
  me: Me | null;
  loading: boolean;
  /** Editors and admins may change pipelines, schedules and runs; viewers only look. */
  canEdit: boolean;
  isAdmin: boolean;
  refresh: () => Promise<Me | null>;
  logout: () => Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

/** Without the auth module (older control planes) /auth/me is 404: everything is allowed, as the API allows it. */
const OPEN: Me = { user: "anonymous", role: "admin", via: "none" };

export function AuthProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [loading, setLoading] = useState(true);
  const navigate = useNavigate();
  const location = useLocation();

  const refresh = useCallback(async () => {
    try {
      const who = await api.get<Me>("/auth/me", { quiet401: true });
      setMe(who);
      return who;
    } catch (err) {
      const who = err instanceof ApiError && err.status === 404 ? OPEN : null;
      setMe(who);
      return who;
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  // Any 401 from the API (expired session, revoked token): back to the login page, then back here.
  const here = location.pathname;
  useEffect(() => {
    setUnauthorizedHandler(() => {
      setMe(null);
      if (!here.startsWith("/login")) navigate("/login", { replace: true, state: { from: here } });
    });
    return () => setUnauthorizedHandler(null);
  }, [navigate, here]);

  const logout = useCallback(async () => {
    try {
      await api.post("/auth/logout", undefined, { quiet401: true });
    } catch {
      // already logged out
    }
    setMe(null);
    navigate("/login", { replace: true });
  }, [navigate]);

  const value = useMemo<AuthState>(() => {
    const role = me?.role;
    return {
      me,
      loading,
      canEdit: role === "editor" || role === "admin",
      isAdmin: role === "admin",
      refresh,
      logout,
    };
  }, [me, loading, refresh, logout]);

  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth outside <AuthProvider>");
  return state;
}

/** Renders its children for a logged-in user (with at least `role` when given), else goes to the login page. */
export function RequireAuth({ children, admin = false }: { children: ReactNode; admin?: boolean }) {
  const { me, loading, isAdmin } = useAuth();
  const location = useLocation();
  if (loading) return <div className="page-loading">Loading…</div>;
  if (!me) return <Navigate to="/login" replace state={{ from: location.pathname }} />;
  if (admin && !isAdmin) return <Navigate to="/pipelines" replace />;
  return <>{children}</>;
}
