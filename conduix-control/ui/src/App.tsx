import { HashRouter, Navigate, Route, Routes } from "react-router-dom";
import { AuthProvider, RequireAuth } from "./auth";
import { Shell } from "./components/Shell";
import { AccountPage } from "./pages/AccountPage";
import { AgentsPage } from "./pages/AgentsPage";
import { AuditPage } from "./pages/AuditPage";
import { LoginPage } from "./pages/LoginPage";
import { NewPipelinePage } from "./pages/NewPipelinePage";
import { PipelinePage } from "./pages/PipelinePage";
import { PipelinesPage } from "./pages/PipelinesPage";
import { RunsPage } from "./pages/RunsPage";
import { SchedulesPage } from "./pages/SchedulesPage";
import { TokensPage } from "./pages/TokensPage";

/** Hash routes (#/pipelines/orders), so no UI path collides with the API served from the same root. */
export function App() {
  return (
    <HashRouter>
      <AuthProvider>
        <Routes>
          <Route path="/login" element={<LoginPage />} />
          <Route element={<RequireAuth><Shell /></RequireAuth>}>
            <Route path="/pipelines" element={<PipelinesPage />} />
            <Route path="/pipelines/new" element={<NewPipelinePage />} />
            <Route path="/pipelines/:name" element={<PipelinePage />} />
            <Route path="/pipelines/:name/:tab" element={<PipelinePage />} />
            <Route path="/agents" element={<AgentsPage />} />
            <Route path="/schedules" element={<SchedulesPage />} />
            <Route path="/runs" element={<RunsPage />} />
            <Route path="/account" element={<AccountPage />} />
            <Route path="/tokens" element={<RequireAuth admin><TokensPage /></RequireAuth>} />
            <Route path="/audit" element={<RequireAuth admin><AuditPage /></RequireAuth>} />
          </Route>
          <Route path="*" element={<Navigate to="/pipelines" replace />} />
        </Routes>
      </AuthProvider>
    </HashRouter>
  );
}
