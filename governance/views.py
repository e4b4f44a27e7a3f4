"""Self-service area (outside the admin) for employees."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from governance import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    profile = selectors.own_profile(viewer=request.user)
    return render(request, "governance/selfservice/home.html", {"profile": profile})
