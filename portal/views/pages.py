"""Portal pages. Views stay thin: reads through selectors, writes through services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal.access import visible_enterprises


@login_required
def home(request: HttpRequest) -> HttpResponse:
    enterprises = visible_enterprises(request.user)[:50]
    return render(request, "portal/home.html", {"enterprises": enterprises})


@login_required
def otp_setup(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


@login_required
def otp_verify(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


def register(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError
